"""The CDP database: engine, masked URL, and transactions that fail with a clear message."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from target_cdp.settings import Settings
from target_cdp.tables import CDPTables, build_tables, migrate

logger = logging.getLogger(__name__)


#: DuckDB's threads. Its statements here are batch merges, and each thread adds working memory
#: of its own: a fixed count keeps ``duckdb_memory_limit`` enough on machines of any size.
DUCKDB_THREADS = 2


class CDPDatabaseError(RuntimeError):
    """A database operation failed; the message never contains the password."""


def masked_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine and the CDP tables of one schema."""

    def __init__(self, settings: Settings) -> None:
        self.url = sa.engine.make_url(settings.database_url)
        self.masked = masked_url(settings.database_url)
        connect_args: dict = {}
        if self.url.get_backend_name() == "duckdb":
            connect_args["config"] = {
                "memory_limit": settings.duckdb_memory_limit,
                "threads": DUCKDB_THREADS,
            }
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: errors must not echo record data (or anything secret) into logs.
        self.engine = sa.create_engine(self.url, hide_parameters=True, connect_args=connect_args)
        self.tables: CDPTables = build_tables(self._qualified(settings.schema))

    def _qualified(self, schema: str) -> str:
        """The schema as SQLAlchemy must name it.

        A DuckDB file is a catalog named after the file: with ``cdp.duckdb`` and schema ``cdp``,
        ``cdp.people`` would be ambiguous, so DuckDB schemas are qualified with their catalog.
        """
        if self.url.get_backend_name() != "duckdb":
            return schema
        with self.errors("opening the database"), self.engine.connect() as conn:
            catalog = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        return f"{catalog}.{schema}"

    def migrate(self) -> None:
        """Create or migrate the CDP schema."""
        with self.errors("creating the CDP schema"):
            migrate(self.engine, self.tables)

    def _mask(self, text: str) -> str:
        password = self.url.password
        return text.replace(str(password), "***") if password else text

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn database errors into one clear ``CDPDatabaseError`` line."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            detail = self._mask(str(getattr(exc, "orig", None) or exc)).strip().splitlines()
            message = (
                f"Database error while {doing} in {self.masked}: {detail[0] if detail else exc}"
            )
            if "Out of Memory" in message and self.url.get_backend_name() == "duckdb":
                message += " (raise the duckdb_memory_limit setting)"
            raise CDPDatabaseError(message) from None

    @contextlib.contextmanager
    def transaction(self, doing: str) -> Iterator[sa.Connection]:
        """One transaction: committed on success, rolled back (and reported) on error."""
        with self.errors(doing), self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection (DuckDB releases its file lock)."""
        self.engine.dispose()
