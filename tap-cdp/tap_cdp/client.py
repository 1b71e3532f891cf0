"""The connector to the CDP database and the full-table stream of one table or model.

Discovery reads ``information_schema`` instead of SQLAlchemy's reflection, which the SDK's
``SQLConnector`` uses: duckdb-engine answers PostgreSQL's catalog queries for primary keys
with ``Type with name REGCLASS does not exist`` and reports JSON columns as strings. The same
two ``information_schema`` views answer on DuckDB and PostgreSQL. Only the CDP's schema and
the audience schema are discovered: the tap reads the CDP, not the whole server.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import typing as t

import sqlalchemy as sa
from singer_sdk.singerlib import CatalogEntry, MetadataMapping, Schema
from singer_sdk.sql import SQLConnector, SQLStream

from tap_cdp.database import check_database_url, create_engine, qualified_schema, reading

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

_COLUMNS = sa.text(
    "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_catalog = current_database() AND table_schema IN :schemas"
    " ORDER BY table_schema, table_name, ordinal_position"
).bindparams(sa.bindparam("schemas", expanding=True))
_KEYS = sa.text(
    "SELECT tc.table_schema, tc.table_name, k.column_name"
    " FROM information_schema.table_constraints AS tc"
    " JOIN information_schema.key_column_usage AS k"
    " ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema"
    " AND k.table_name = tc.table_name"
    " WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_catalog = current_database()"
    " AND tc.table_schema IN :schemas ORDER BY k.ordinal_position"
).bindparams(sa.bindparam("schemas", expanding=True))


#: (test on the lower-cased SQL type name, JSON type) in order; anything else is a string.
_JSON_TYPES: tuple[tuple[t.Callable[[str], bool], dict[str, t.Any]], ...] = (
    (lambda name: "json" in name, {"type": ["object", "array", "null"]}),
    (lambda name: name.endswith("[]") or name.startswith("array"), {"type": ["array", "null"]}),
    (
        lambda name: name.startswith("timestamp"),
        {"type": ["string", "null"], "format": "date-time"},
    ),
    (lambda name: name == "date", {"type": ["string", "null"], "format": "date"}),
    (lambda name: name == "boolean", {"type": ["boolean", "null"]}),
    (lambda name: "int" in name, {"type": ["integer", "null"]}),
    (
        lambda name: name.startswith(("decimal", "numeric", "double", "real", "float")),
        {"type": ["number", "null"]},
    ),
)


def json_schema_of(data_type: str) -> dict[str, t.Any]:
    """The JSON schema of a column of this SQL type (as ``information_schema`` names it)."""
    name = data_type.lower()
    return next(
        (dict(schema) for matches, schema in _JSON_TYPES if matches(name)),
        {"type": ["string", "null"]},
    )


def json_value(value: t.Any) -> t.Any:
    """A value read from the CDP as JSON carries it: UTC timestamps, numbers for decimals, JSON
    text (DuckDB returns JSON columns as text) parsed, also inside objects and lists."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value


def parse_json(value: t.Any) -> t.Any:
    """A JSON column's value: DuckDB gives its text, PostgreSQL the parsed value."""
    return json.loads(value) if isinstance(value, str) else value


class CDPConnector(SQLConnector):
    """The CDP database named by ``database_url``, read-only and in UTC."""

    def get_sqlalchemy_url(self, config: dict[str, t.Any]) -> str:
        return check_database_url(config.get("database_url"))

    def create_engine(self) -> sa.Engine:
        return create_engine(self.sqlalchemy_url)

    @property
    def lock_timeout(self) -> float:
        return float(self.config.get("lock_timeout", 60))

    def reading(self, doing: str) -> t.ContextManager[sa.Connection]:
        """One read transaction on the CDP (see ``database.reading``)."""
        return reading(
            self._engine, self.sqlalchemy_url, lock_timeout=self.lock_timeout, doing=doing
        )

    def qualified(self, schema: str) -> str:
        return qualified_schema(self._engine, schema)

    def discover_catalog_entries(self, **_: t.Any) -> list[dict]:
        """One FULL_TABLE entry per table or view of the CDP schema and the audience schema."""
        schemas = [
            self.config.get("schema", "cdp"),
            self.config.get("audience_schema", "audiences"),
        ]
        with self.reading("discovering the CDP tables") as conn:
            columns = conn.execute(_COLUMNS, {"schemas": schemas}).all()
            keys = conn.execute(_KEYS, {"schemas": schemas}).all()
        self._engine.dispose()
        key_columns: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in keys:
            key_columns.setdefault((schema, table), []).append(column)
        properties: dict[tuple[str, str], dict[str, t.Any]] = {}
        for schema, table, column, data_type in columns:
            properties.setdefault((schema, table), {})[column] = json_schema_of(data_type)
        return [
            self._entry(schema, table, props, key_columns.get((schema, table), []))
            for (schema, table), props in properties.items()
        ]

    @staticmethod
    def _entry(schema: str, table: str, properties: dict, keys: list[str]) -> dict:
        stream_id = f"{schema}-{table}"
        json_schema = {"type": "object", "properties": properties}
        return CatalogEntry(
            tap_stream_id=stream_id,
            stream=stream_id,
            table=table,
            key_properties=keys,
            schema=Schema.from_dict(json_schema),
            replication_method="FULL_TABLE",
            metadata=MetadataMapping.get_standard_metadata(
                schema_name=schema,
                schema=json_schema,
                replication_method="FULL_TABLE",
                key_properties=keys,
            ),
        ).to_dict()


class CDPTableStream(SQLStream):
    """A CDP table or audience model, read whole on every run (FULL_TABLE).

    The rows are read to the end before the first is emitted, so a DuckDB file is released at
    once for the target running beside the tap.
    """

    connector_class = CDPConnector

    def get_records(
        self,
        context: Context | None,  # noqa: ARG002 - not partitioned
    ) -> t.Iterable[dict[str, t.Any]]:
        schema = self._singer_catalog_entry.metadata.root.schema_name
        table_name = self._singer_catalog_entry.table
        names = list(self.get_selected_schema()["properties"])
        table = sa.table(
            table_name, *(sa.column(n) for n in names), schema=self.connector.qualified(schema)
        )
        with self.connector.reading(f"reading {schema}.{table_name}") as conn:
            rows = conn.execute(sa.select(*table.columns)).mappings().all()
        self.connector._engine.dispose()
        json_columns = {
            name
            for name, prop in self.schema["properties"].items()
            if "object" in prop.get("type", [])
        }
        for row in rows:
            yield {
                key: json_value(parse_json(value) if key in json_columns else value)
                for key, value in row.items()
            }
