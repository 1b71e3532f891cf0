"""A CDP database under test (DuckDB file or PostgreSQL schema), shared by the target tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from target_cdp.database import Database
from target_cdp.settings import Settings
from target_messages import run_target


class CDP:
    """A CDP database under test: run the target into it and read its tables back."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema

    def config(self, **settings: Any) -> dict:
        """Target config pointing at this CDP."""
        return {"database_url": self.url, "schema": self.schema, **settings}

    def run(self, messages: list[dict], **settings: Any) -> list[dict]:
        """Run the target on ``messages``; return the emitted STATE values."""
        return run_target(self.config(**settings), messages)

    def migrate(self, **settings: Any) -> None:
        """Create the CDP schema without loading anything (to seed rows of other sources)."""
        database = Database(Settings.from_config(self.config(**settings)))
        database.migrate()
        database.dispose()

    def insert(self, table: str, *rows: dict) -> None:
        """Insert rows as another source would (JSON columns given as dicts)."""
        database = Database(Settings.from_config(self.config()))
        with database.engine.begin() as conn:
            conn.execute(getattr(database.tables, table).insert(), list(rows))
        database.dispose()

    def query(self, sql: str, **params: Any) -> list[dict]:
        """Rows of a SQL query (``{s}`` stands for the schema)."""
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [
                    dict(r)
                    for r in conn.execute(sa.text(sql.format(s=self.schema)), params).mappings()
                ]
        finally:
            engine.dispose()

    def rows(self, table: str, order_by: str = "1", where: str = "true") -> list[dict]:
        """All rows of a CDP table."""
        return self.query(f"select * from {{s}}.{table} where {where} order by {order_by}")

    def execute(self, sql: str) -> None:
        """Run a statement (``{s}`` stands for the schema)."""
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(sql.format(s=self.schema)))
        finally:
            engine.dispose()
