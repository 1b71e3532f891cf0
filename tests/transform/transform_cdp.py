"""The CDP schema of docs/cdp-schema.md, made by hand for the transform tests.

``create_cdp_tables`` is the one place that knows the DDL: when target-cdp ships its own
migration, call that instead and the tests keep working. ``CdpDatabase`` hides the two drivers
(DuckDB file, PostgreSQL database) behind the three calls the tests need.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import psycopg
from psycopg.rows import dict_row

Dialect = Literal["duckdb", "postgres"]

# Column types by table, in docs/cdp-schema.md order. "json" and "timestamptz" are rendered per
# dialect; primary keys are listed apart.
CDP_TABLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "people": (
        [
            ("person_id", "text"),
            ("email", "text"),
            ("first_name", "text"),
            ("last_name", "text"),
            ("phone", "text"),
            ("organization_id", "text"),
            ("email_permission", "boolean"),
            ("sms_permission", "boolean"),
            ("pipedrive_person_id", "bigint unique"),
            ("pipedrive_org_id", "bigint"),
            ("attributes", "json"),
            ("source", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
            ("is_deleted", "boolean"),
            ("deleted_at", "timestamptz"),
            ("pipedrive_deleted_at", "timestamptz"),
        ],
        ["person_id"],
    ),
    "organizations": (
        [
            ("organization_id", "text"),
            ("name", "text"),
            ("pipedrive_org_id", "bigint unique"),
            ("attributes", "json"),
            ("source", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
            ("is_deleted", "boolean"),
            ("deleted_at", "timestamptz"),
        ],
        ["organization_id"],
    ),
    "deals": (
        [
            ("deal_id", "text"),
            ("pipedrive_deal_id", "bigint unique"),
            ("person_id", "text"),
            ("organization_id", "text"),
            ("pipedrive_person_id", "bigint"),
            ("pipedrive_org_id", "bigint"),
            ("title", "text"),
            ("status", "text"),
            ("value", "numeric"),
            ("currency", "text"),
            ("pipeline_id", "bigint"),
            ("stage_id", "bigint"),
            ("add_time", "timestamptz"),
            ("update_time", "timestamptz"),
            ("stage_change_time", "timestamptz"),
            ("won_time", "timestamptz"),
            ("lost_time", "timestamptz"),
            ("close_time", "timestamptz"),
            ("is_deleted", "boolean"),
            ("deleted_at", "timestamptz"),
            ("is_archived", "boolean"),
            ("attributes", "json"),
        ],
        ["deal_id"],
    ),
    "activities": (
        [
            ("activity_key", "text"),
            ("activity_type", "text"),
            ("person_id", "text"),
            ("organization_id", "text"),
            ("deal_id", "text"),
            ("occurred_at", "timestamptz"),
            ("attributes", "json"),
            ("definition_version", "integer"),
            ("source", "text"),
            ("source_record", "text"),
        ],
        ["activity_key"],
    ),
    "activity_definitions": (
        [
            ("activity_type", "text"),
            ("definition_version", "integer"),
            ("attribute_names", "json"),
            ("first_seen_at", "timestamptz"),
        ],
        ["activity_type", "definition_version"],
    ),
    "activity_summary": (
        [
            ("person_id", "text"),
            ("activity_type", "text"),
            ("first_at", "timestamptz"),
            ("last_at", "timestamptz"),
            ("count", "bigint"),
        ],
        ["person_id", "activity_type"],
    ),
    "associations": (
        [
            ("from_kind", "text"),
            ("from_id", "text"),
            ("to_kind", "text"),
            ("to_id", "text"),
            ("associated_at", "timestamptz"),
        ],
        ["from_kind", "from_id", "to_kind", "to_id"],
    ),
    "pipelines": ([("id", "bigint"), ("name", "text"), ("attributes", "json")], ["id"]),
    "stages": (
        [
            ("id", "bigint"),
            ("name", "text"),
            ("pipeline_id", "bigint"),
            ("order_nr", "integer"),
            ("attributes", "json"),
        ],
        ["id"],
    ),
    "users": ([("id", "bigint"), ("name", "text"), ("attributes", "json")], ["id"]),
    "activity_types": (
        [("id", "bigint"), ("name", "text"), ("key_string", "text"), ("attributes", "json")],
        ["id"],
    ),
    "pipedrive_fields": (
        [
            ("object", "text"),
            ("field_code", "text"),
            ("readable_name", "text"),
            ("field_name", "text"),
            ("field_type", "text"),
            ("is_custom_field", "boolean"),
            ("options", "json"),
        ],
        ["object", "field_code"],
    ),
    "identity_conflicts": (
        [
            ("conflict_key", "text"),
            ("pipedrive_person_id", "bigint"),
            ("email", "text"),
            ("conflicting_person_id", "text"),
            ("conflicting_pipedrive_person_id", "bigint"),
            ("resolution", "text"),
            ("detected_at", "timestamptz"),
        ],
        ["conflict_key"],
    ),
    "permission_decisions": (
        [
            ("decision_key", "text"),
            ("person_id", "text"),
            ("pipedrive_person_id", "bigint"),
            ("channel", "text"),
            ("value", "boolean"),
            ("rule", "text"),
            ("source_value", "text"),
            ("decided_at", "timestamptz"),
        ],
        ["decision_key"],
    ),
    "rejected_records": (
        [
            ("rejection_key", "text"),
            ("stream", "text"),
            ("record_key", "text"),
            ("reason", "text"),
            ("raw_record", "json"),
            ("first_run_id", "text"),
        ],
        ["rejection_key"],
    ),
    "pipedrive_records": (
        [
            ("stream", "text"),
            ("pipedrive_id", "text"),
            ("update_time", "timestamptz"),
            ("table_version", "bigint"),
            ("is_deleted", "boolean"),
            ("record", "json"),
        ],
        ["stream", "pipedrive_id"],
    ),
    "sync_runs": (
        [
            ("run_id", "text"),
            ("started_at", "timestamptz"),
            ("finished_at", "timestamptz"),
            ("status", "text"),
            ("counts", "json"),
        ],
        ["run_id"],
    ),
}

_TYPES: dict[Dialect, dict[str, str]] = {
    "duckdb": {"json": "JSON", "timestamptz": "TIMESTAMP WITH TIME ZONE"},
    "postgres": {"json": "JSONB", "timestamptz": "TIMESTAMP WITH TIME ZONE"},
}


def cdp_ddl(dialect: Dialect, schema: str) -> list[str]:
    """CREATE statements for every CDP table, in ``schema`` (a quoted, qualified name)."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
    for table, (columns, primary_key) in CDP_TABLES.items():
        column_sql = [
            f'"{name}" {_TYPES[dialect].get(kind, kind.upper())}' for name, kind in columns
        ]
        column_sql.append(f"PRIMARY KEY ({', '.join(primary_key)})")
        statements.append(f'CREATE TABLE {schema}."{table}" ({", ".join(column_sql)})')
    return statements


def _json_columns(table: str) -> set[str]:
    return {name for name, kind in CDP_TABLES[table][0] if kind == "json"}


@dataclass(frozen=True)
class CdpDatabase:
    """A DuckDB file or a PostgreSQL database holding the CDP schema and the dbt outputs.

    Connections are opened per call and closed at once: a DuckDB file admits one writing
    process, and dbt runs in another one.
    """

    dialect: Dialect
    location: str  # DuckDB file path, or libpq URL
    schema: str = "cdp"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.dialect == "duckdb":
            conn = duckdb.connect(self.location)
            try:
                conn.execute("SET TimeZone = 'UTC'")
                yield conn
            finally:
                conn.close()
        else:
            with (
                psycopg.connect(self.location, autocommit=True, row_factory=dict_row) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("SET TIME ZONE 'UTC'")
                yield cur

    @property
    def _catalog_prefix(self) -> str:
        return f'"{Path(self.location).stem}".' if self.dialect == "duckdb" else ""

    @property
    def qualified_schema(self) -> str:
        """The schema's quoted name, with the catalog on DuckDB.

        A DuckDB file is a catalog named after the file: ``cdp.duckdb`` holding schema ``cdp``
        makes the two-part name ``cdp.people`` ambiguous, so DuckDB names are three-part.
        """
        return f'{self._catalog_prefix}"{self.schema}"'

    @property
    def _placeholder(self) -> str:
        return "?" if self.dialect == "duckdb" else "%s"

    def create_cdp_tables(self) -> None:
        """Create the CDP schema; the hook to swap for target-cdp's own migration."""
        with self._cursor() as cur:
            for statement in cdp_ddl(self.dialect, self.qualified_schema):
                cur.execute(statement)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement; ``?`` marks parameters whatever the driver."""
        with self._cursor() as cur:
            cur.execute(sql.replace("?", self._placeholder), list(params))

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert CDP rows (dicts keyed by column; missing columns stay null)."""
        if not rows:
            return
        columns = [name for name, _ in CDP_TABLES[table][0]]
        json_columns = _json_columns(table)
        placeholders = ", ".join(
            f"CAST({self._placeholder} AS {_TYPES[self.dialect]['json']})"
            if name in json_columns
            else self._placeholder
            for name in columns
        )
        column_list = ", ".join(f'"{name}"' for name in columns)
        table_name = f'{self.qualified_schema}."{table}"'
        sql = f"INSERT INTO {table_name} ({column_list}) VALUES ({placeholders})"
        values = [
            [
                json.dumps(row[name])
                if name in json_columns and row.get(name) is not None
                else row.get(name)
                for name in columns
            ]
            for row in rows
        ]
        with self._cursor() as cur:
            cur.executemany(sql, values)

    def load(self, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Make these tables hold exactly these rows, as a sync that rewrote them would."""
        for table, rows in tables.items():
            self.execute(f'DELETE FROM {self.qualified_schema}."{table}"')
            self.insert_rows(table, rows)

    def relation(self, schema: str, name: str) -> str:
        """The quoted name of a table or view dbt built in ``schema``."""
        return f'{self._catalog_prefix}"{schema}"."{name}"'

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a query as dicts."""
        with self._cursor() as cur:
            if self.dialect == "postgres":
                return list(cur.execute(sql).fetchall())
            result = cur.execute(sql)
            names = [column[0] for column in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
