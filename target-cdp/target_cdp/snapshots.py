"""The last record stored of each object, and how a batch is compared with it.

Every stream of Pipedrive objects keeps, in ``pipedrive_records``, the last record it applied
of each object; every catalog keeps its rows in its own table. A batch is applied only where it
says something new: that is what makes replays free and derived activities exactly-once. The
comparison is the same for both kinds of stream, so it is written once, here:

- within a batch, the newest copy of an object wins (by ``update_time``; the later copy when
  the times are equal or absent; catalog rows, which carry no time, in arrival order), and
  every other copy counts ``unchanged``, so that the counts add up to the records received;
- a copy equal to what is stored is ``unchanged``: nothing is rewritten, but its table version
  moves on (a reconciliation pass saw it, so its ACTIVATE_VERSION keeps it);
- a copy older than what is stored (by ``update_time``) is ``skipped``: it never overwrites
  (catalog rows are never skipped: they carry no time to compare);
- anything else is ``inserted`` or ``updated``, and applied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.checks import is_id
from target_cdp.records import canonical, parse_time

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable, Hashable, Iterable

    from target_cdp.sinks.base import Incoming

#: The columns of ``pipedrive_records`` that hold a reference, in the order stored.
REFERENCE_COLUMNS = ("person_ref", "org_ref", "deal_ref")


@dataclass
class Copy:
    """The newest copy of an object in a batch: checked, and as its JSON column reads back."""

    item: Incoming
    record: dict
    update_time: dt.datetime | None


@dataclass
class Change:
    """A Pipedrive object whose stored record changes in this batch."""

    pipedrive_id: int
    old: dict | None
    new: dict
    raw: dict
    version: int | None
    deleted: bool
    deleted_at: dt.datetime | None
    update_time: dt.datetime | None


def newest(
    items: Iterable[Incoming],
    problem: Callable[[dict], str | None],
    key: Callable[[dict], Hashable],
    counts: Counter[str],
    *,
    timed: bool = True,
) -> tuple[list[tuple[Incoming, str]], dict[Any, Copy]]:
    """The rejected records with why, and the newest copy of each object by ``key``.

    ``problem`` (run first: it may normalize the record, such as unwrapping references) says
    why a record cannot be stored. ``timed``: the records carry an ``update_time`` that
    ``problem`` checked (catalog records are compared in arrival order).
    """
    rejected: list[tuple[Incoming, str]] = []
    latest: dict[Any, Copy] = {}
    for item in items:
        reason = item.rejection or problem(item.record)
        if reason:
            rejected.append((item, reason))
            continue
        try:
            record = canonical(item.record)
        except TypeError as exc:
            rejected.append((item, f"cannot be stored as JSON: {exc}"))
            continue
        object_key = key(item.record)
        update_time = parse_time(item.record.get("update_time")) if timed else None
        previous = latest.get(object_key)
        if previous is not None:
            counts["unchanged"] += 1  # an older copy in the same batch
            if _older(update_time, previous.update_time):
                continue
        latest[object_key] = Copy(item, record, update_time)
    return rejected, latest


def verdict(
    stored: Any | None,
    new: Any,
    stored_time: dt.datetime | None = None,
    new_time: dt.datetime | None = None,
) -> str:
    """``inserted``, ``updated``, ``unchanged`` or ``skipped`` (the module docstring's rules)."""
    if stored is None:
        return "inserted"
    if new == stored:
        return "unchanged"
    if _older(new_time, stored_time):
        return "skipped"
    return "updated"


def reference(record: dict, field: str | None) -> int | None:
    """The id a record's reference field holds (None when absent or not an id)."""
    value = record.get(field) if field else None
    return value if is_id(value) else None


class PipedriveRecords:
    """One stream's snapshots in ``pipedrive_records``, read and written a batch at a time.

    ``references``: which record field fills each reference column (``person_ref``: the
    field holding the object's person), from the stream's row in ``registry.STREAMS``.
    """

    def __init__(self, table: sa.Table, stream: str, references: dict[str, str]) -> None:
        self.table = table
        self.stream = stream
        self.references = references

    def load(self, conn: sa.Connection, ids: Iterable[int]) -> dict[int, dict]:
        """The stored snapshot of each of these objects (update time, version, deleted, record)."""
        r = self.table
        rows = conn.execute(
            sa.select(
                r.c.pipedrive_id, r.c.update_time, r.c.table_version, r.c.is_deleted, r.c.record
            ).where(r.c.stream == self.stream, bulk.among(r.c.pipedrive_id, ids))
        ).mappings()
        return {row["pipedrive_id"]: dict(row) for row in rows}

    def store(self, conn: sa.Connection, changes: Iterable[Change]) -> None:
        """Remember the records just applied."""
        bulk.upsert(
            conn,
            self.table,
            [
                {
                    "stream": self.stream,
                    "pipedrive_id": c.pipedrive_id,
                    "update_time": c.update_time,
                    "table_version": c.version,
                    "is_deleted": c.deleted,
                    "record": c.new,
                    **{
                        column: reference(c.new, self.references.get(column))
                        for column in REFERENCE_COLUMNS
                    },
                }
                for c in changes
            ],
        )

    def move_versions(self, conn: sa.Connection, versions: dict[int, int]) -> None:
        """Set the table version of unchanged snapshots (Pipedrive id -> version)."""
        bulk.update(
            conn,
            self.table,
            [
                {"stream": self.stream, "pipedrive_id": pid, "table_version": version}
                for pid, version in versions.items()
            ],
        )

    def references_of(self, record: dict) -> dict[str, int | None]:
        """The reference columns a record fills (column -> id)."""
        return {column: reference(record, name) for column, name in self.references.items()}

    def not_seen_since(
        self, conn: sa.Connection, version: int, after: int | None, limit: int
    ) -> list[Any]:
        """Up to ``limit`` live snapshots last seen with an older (or no) table version, in
        ``pipedrive_id`` order after ``after``."""
        r = self.table
        return (
            conn.execute(
                sa.select(r.c.pipedrive_id, r.c.update_time, r.c.table_version, r.c.record)
                .where(
                    r.c.stream == self.stream,
                    r.c.is_deleted.is_(False),
                    sa.or_(r.c.table_version.is_(None), r.c.table_version < version),
                    sa.true() if after is None else r.c.pipedrive_id > after,
                )
                .order_by(r.c.pipedrive_id)
                .limit(limit)
            )
            .mappings()
            .all()
        )


def _older(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    return a is not None and b is not None and a < b
