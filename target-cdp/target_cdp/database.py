"""The CDP database: engine, masked URL, and transactions that fail with a clear message.

What the target shows of the database (its summary, every error, ``sync_runs.error``) goes
through two masks. ``masked_url`` hides the password and every secret-looking query parameter
(``?password=``, ``&sslpassword=``, ``passfile``, ``*token*``, ``*key*``, ``*secret*``...): libpq
and DuckDB take secrets there too. ``CDPDatabaseError`` lines also hide those values wherever
the driver repeats them, and hide the record values a database quotes in its message
(``invalid input syntax for type integer: "..."``): an error names the problem, the stream and
the database, and never the data.
"""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from target_cdp.settings import Settings, engine_url
from target_cdp.tables import CDPTables, build_tables, migrate

logger = logging.getLogger(__name__)


#: DuckDB's threads. Its statements here are batch merges, and each thread adds working memory
#: of its own: a fixed count keeps ``duckdb_memory_limit`` enough on machines of any size.
DUCKDB_THREADS = 2

#: URL query parameters whose values are masked: any name containing one of these.
SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature", re.I)
MASK = "***"
#: Parts of a database message that may be record values: quoted text, unless it follows a
#: word naming an identifier (``constraint "no_boom"`` stays), and the value DuckDB gives
#: unquoted (``Type DOUBLE with value 1e+400 can't be cast``).
_QUOTED = re.compile(
    r"(\b(?:relation|table|column|constraint|index|schema|database|catalog|type|role|user)\s+)?"
    r"(\"[^\"]*\"|'[^']*')|(?<=with value )\S+",
    re.IGNORECASE,
)


class CDPDatabaseError(RuntimeError):
    """A database operation failed; the message never contains secrets nor record values."""


def mask_secrets(text: str, url: str | sa.URL) -> str:
    """``text`` without the URL's password and secret query values (as given, or URL-encoded)."""
    parsed = sa.engine.make_url(url)
    secrets = [parsed.password] if parsed.password else []
    for name, value in parsed.query.items():
        if SECRET_PARAMETER.search(name):
            secrets += [value] if isinstance(value, str) else list(value)
    for secret in filter(None, map(str, secrets)):
        for shown in {secret, urllib.parse.quote(secret), urllib.parse.quote_plus(secret)}:
            text = text.replace(shown, MASK)
    return text


def masked_url(url: str) -> str:
    """The URL with its password and secret query parameters replaced by ``***``."""
    parsed = sa.engine.make_url(url)
    query = {k: MASK if SECRET_PARAMETER.search(k) else v for k, v in parsed.query.items()}
    shown = parsed.set(query=query).render_as_string(hide_password=True)
    return shown.replace(urllib.parse.quote_plus(MASK), MASK)


def hide_values(message: str) -> str:
    """The database message without the values it quotes (identifiers stay)."""

    def hide(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)
        return '"…"' if match.group(2) else "…"

    return _QUOTED.sub(hide, message)


class Database:
    """One engine and the CDP tables of one schema."""

    def __init__(self, settings: Settings) -> None:
        self.url = engine_url(settings.database_url)
        self.masked = masked_url(settings.database_url)
        self.schema = settings.schema
        connect_args: dict = {}
        #: A DuckDB file that does not exist yet (``Settings`` checks the URL names a file in an
        #: existing directory).
        self.new_file: Path | None = None
        if self.url.get_backend_name() == "duckdb":
            connect_args["config"] = {
                "memory_limit": settings.duckdb_memory_limit,
                "threads": DUCKDB_THREADS,
            }
            path = Path(self.url.database).expanduser()
            if not path.exists():
                self.new_file = path.absolute()
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
        """Create or migrate the CDP schema; say so once when the CDP is new."""
        with self.errors("creating the CDP schema"):
            if self.new_file is not None:
                logger.info(
                    "Creating a new CDP database: %s did not exist (database_url %s)",
                    self.new_file,
                    self.masked,
                )
            elif self.url.get_backend_name() == "postgresql":
                with self.engine.connect() as conn:
                    if not sa.inspect(conn).has_schema(self.schema):
                        logger.info("Creating a new CDP: schema %s in %s", self.schema, self.masked)
            migrate(self.engine, self.tables)

    def mask(self, text: str) -> str:
        """``text`` without the URL's secrets."""
        return mask_secrets(text, self.url)

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn database errors into one clear ``CDPDatabaseError`` line.

        Errors of the driver itself count too: PostgreSQL's COPY runs on the driver's cursor.
        """
        try:
            yield
        except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            problem = hide_values(self.mask(detail[0])) if detail else type(exc).__name__
            message = f"Database error while {doing} in {self.masked}: {problem}"
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
