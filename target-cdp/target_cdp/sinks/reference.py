"""Pipedrive catalogs (users, pipelines, stages, activity types, field definitions)."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import sqlalchemy as sa

from target_cdp import bulk, snapshots
from target_cdp.checks import column_json_types, type_problem
from target_cdp.sinks.base import CDPSink, Incoming


class ReferenceSink(CDPSink):
    """A small catalog stream upserted into its own table, compared row by row."""

    table_name: ClassVar[str]
    #: Record fields with a column of their own (the rest goes to ``attributes``).
    columns: ClassVar[tuple[str, ...]] = ("id", "name")
    key_field: ClassVar[str] = "id"

    @property
    def table(self) -> sa.Table:
        """The catalog table."""
        return getattr(self.run.tables, self.table_name)

    def scope(self) -> dict[str, Any]:
        """Fixed key columns of this stream's rows."""
        return {}

    def check(self, record: dict) -> str | None:
        """Why the record breaks the rules (None when it does not)."""
        key = record.get(self.key_field)
        valid = (
            isinstance(key, str) and key if self.key_field == "field_code" else isinstance(key, int)
        )
        if not valid or isinstance(key, bool):
            return f"{self.key_field} is invalid: {key!r}"
        return type_problem(record, column_json_types(self.table, self.columns))

    def row(self, record: dict, version: int | None) -> dict[str, Any]:
        """The table row of a record."""
        return {
            **self.scope(),
            **{name: record.get(name) for name in self.columns},
            "attributes": {k: v for k, v in record.items() if k not in self.columns},
            "is_deleted": record.get("is_deleted") is True or record.get("active_flag") is False,
            "table_version": version,
        }

    def write(
        self, conn: sa.Connection, items: list[Incoming], counts: dict[str, Counter[str]]
    ) -> None:
        """Upsert the rows that differ from what is stored (``snapshots.py``'s rules)."""
        rejected, latest = snapshots.newest(
            items,
            self.check,
            lambda record: record[self.key_field],
            counts[self.stream_name],
            timed=False,
        )
        self.reject(conn, rejected, counts)
        key_columns = list(self.table.primary_key.columns)
        stored: dict[Any, dict] = {}
        if latest:
            where = [
                bulk.among(key_columns[-1], latest),
                *(self.table.c[k] == v for k, v in self.scope().items()),
            ]
            for row in conn.execute(sa.select(self.table).where(*where)).mappings():
                stored[row[key_columns[-1].name]] = dict(row)
        changed, versions = [], []
        for key, copy in latest.items():
            row, old = self.row(copy.record, copy.item.version), stored.get(key)
            if row["table_version"] is None and old is not None:
                row["table_version"] = old["table_version"]
            verdict = snapshots.verdict(None if old is None else _content(old), _content(row))
            counts[self.stream_name][verdict] += 1
            if verdict == "unchanged":
                if row["table_version"] != old["table_version"]:
                    names = [*(c.name for c in key_columns), "table_version"]
                    versions.append({name: row[name] for name in names})
            else:
                changed.append(row)
        bulk.upsert(conn, self.table, changed)
        bulk.update(conn, self.table, versions)

    def activate_version(self, new_version: int) -> None:
        """Mark deleted the rows not seen in the pass that ended with this version."""
        t = self.table
        with self.run.db.transaction(f"retiring records of stream '{self.stream_name}'") as conn:
            conn.execute(
                sa.update(t)
                .where(
                    t.c.is_deleted.is_(False),
                    sa.or_(t.c.table_version.is_(None), t.c.table_version < new_version),
                    *(t.c[k] == v for k, v in self.scope().items()),
                )
                .values(is_deleted=True)
            )


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "table_version"}


class UsersSink(ReferenceSink):
    """The ``users`` stream."""

    table_name = "users"


class PipelinesSink(ReferenceSink):
    """The ``pipelines`` stream."""

    table_name = "pipelines"


class StagesSink(ReferenceSink):
    """The ``stages`` stream."""

    table_name = "stages"
    columns = ("id", "name", "pipeline_id", "order_nr")


class PipedriveActivityTypesSink(ReferenceSink):
    """The ``activity_types`` stream: Pipedrive's types of activity (call, meeting...)."""

    table_name = "activity_types"
    columns = ("id", "name", "key_string")


class FieldsSink(ReferenceSink):
    """``person_fields``, ``deal_fields``, ...: field definitions into ``pipedrive_fields``."""

    table_name = "pipedrive_fields"
    columns = (
        "field_code",
        "readable_name",
        "field_name",
        "field_type",
        "is_custom_field",
        "options",
    )
    key_field = "field_code"

    def scope(self) -> dict[str, Any]:
        """Rows of ``person_fields`` have ``object = 'person'``."""
        return {"object": self.stream_name.removesuffix("_fields")}
