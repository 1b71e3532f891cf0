"""The CDP the transform tests build on: target-cdp's own tables, filled with scenario rows.

The tables are created by target-cdp's migration and rows are inserted through its SQLAlchemy
tables, so the dbt project is always tested against the schema the target really writes.
``CdpDatabase`` hides the two drivers (DuckDB file, PostgreSQL database) behind the calls the
tests need.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import psycopg
from psycopg.rows import dict_row
from target_cdp.database import Database
from target_cdp.settings import Settings

Dialect = Literal["duckdb", "postgres"]


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

    @contextmanager
    def _target_database(self) -> Iterator[Database]:
        """target-cdp's view of this database (its engine and tables), closed after use."""
        url = (
            f"duckdb:///{self.location}"
            if self.dialect == "duckdb"
            else self.location.replace("postgresql://", "postgresql+psycopg://", 1)
        )
        database = Database(Settings.from_config({"database_url": url, "schema": self.schema}))
        try:
            yield database
        finally:
            database.dispose()

    def create_cdp_tables(self) -> None:
        """Create the CDP schema with target-cdp's own migration."""
        with self._target_database() as database:
            database.migrate()

    def load(self, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Make these tables hold exactly these rows, as a sync that rewrote them would.

        Rows are dicts keyed by column; a column no row of its table names keeps its default.
        """
        with self._target_database() as database, database.engine.begin() as conn:
            for name, rows in tables.items():
                table = getattr(database.tables, name)
                conn.execute(table.delete())
                names = [c.name for c in table.columns if any(c.name in row for row in rows)]
                if rows:
                    conn.execute(table.insert(), [{n: row.get(n) for n in names} for row in rows])

    def relation(self, schema: str, name: str) -> str:
        """The quoted name of a table or view dbt built in ``schema``.

        A DuckDB file is a catalog named after the file: ``cdp.duckdb`` holding schema ``cdp``
        makes the two-part name ``cdp.people`` ambiguous, so DuckDB names are three-part.
        """
        return f'{self._catalog_prefix}"{schema}"."{name}"'

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a query as dicts."""
        with self._cursor() as cur:
            if self.dialect == "postgres":
                return list(cur.execute(sql).fetchall())
            result = cur.execute(sql)
            names = [column[0] for column in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
