"""The CDP database as the tap reads it: the URL checked, its secrets masked, DuckDB shared.

``database_url`` means what it means to target-cdp (a DuckDB file or ``postgresql://``, read with
psycopg 3)
and a bad one is one line naming the setting, without repeating the URL (it holds the
password). The checks are target-cdp's, kept here rather than imported: tap-cdp installs
without target-cdp (another writer may fill the CDP) and a reader has one more case, a DuckDB
file that does not exist is an error here, never a new empty CDP.

A DuckDB file admits one writing process, and no reader while it writes. The tap opens it
read-only, waits (up to ``lock_timeout``) while another process holds it, and reads each query
to the end before closing it again: ``meltano run tap-cdp target-pipedrive`` runs both
processes at once, and the target writes its ledger into the same file.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from singer_sdk.exceptions import ConfigValidationError

URL_EXAMPLES = "duckdb:///path/to/warehouse.duckdb or postgresql://user:pass@host:5432/db"
#: URL query parameters whose values are masked: any name containing one of these.
SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|credential|signature", re.I)
MASK = "***"
#: What DuckDB says when another process holds the file.
_LOCKED = re.compile(r"Could not set lock|Conflicting lock", re.I)
#: What DuckDB and PostgreSQL say when a schema or table is missing: dbt has not built it yet.
_NOT_BUILT = re.compile(r"does not exist", re.I)
DBT_HINT = "run the dbt build (meltano run dbt:build, or the sync-cdp job) first"


class CDPReadError(RuntimeError):
    """Reading the CDP failed; the message never contains the password."""


def engine_url(url: str) -> sa.URL:
    """``postgresql://`` or ``postgres://`` (no driver named) reads with psycopg 3, a dependency,
    as target-cdp writes; SQLAlchemy's default, psycopg2, is not installed with the tap."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def database_url_problem(url: str) -> str | None:
    """What is wrong with ``database_url`` and what to write instead (None when nothing is)."""
    try:
        parsed = engine_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return (
            "is not a SQLAlchemy URL (is the port a number? are @ : / in the password "
            f"%-encoded?): write {URL_EXAMPLES}"
        )
    backend = parsed.get_backend_name()
    if backend not in {"duckdb", "postgresql"}:
        return f"must be duckdb:/// or postgresql://, not {backend}"
    if parsed.port is not None and not 0 < parsed.port < 65536:  # noqa: PLR2004
        return f"port {parsed.port} is not between 1 and 65535"
    try:
        parsed.get_dialect().import_dbapi()
    except (sa.exc.NoSuchModuleError, ImportError):
        return f"driver {parsed.drivername} is not available: write {URL_EXAMPLES}"
    return _duckdb_url_problem(parsed) if backend == "duckdb" else None


def _duckdb_url_problem(parsed: sa.URL) -> str | None:
    """A DuckDB URL names an existing file: three slashes, a path, no host."""
    if parsed.host or parsed.username or parsed.port:
        return (
            f"a DuckDB URL has no host ({parsed.host or parsed.username}): a file takes "
            "three slashes, duckdb:///relative/path.duckdb, or four for an absolute path"
        )
    if not parsed.database or parsed.database == ":memory:":
        return "is an in-memory DuckDB database, which holds no CDP: name the CDP's file"
    path = Path(parsed.database).expanduser()
    if not path.is_file():
        return (
            f"{path} does not exist: name the file target-cdp writes (its database_url), "
            "or run the sync first"
        )
    return None


def check_database_url(url: str | None) -> str:
    """``url`` when it is usable; else a ``ConfigValidationError`` of one line."""
    problem = "is required" if not url else database_url_problem(url)
    if problem:
        message = f"database_url {problem}"
        raise ConfigValidationError(message, errors=[message])
    return str(url)


def masked_url(url: str) -> str:
    """The URL with its password and secret query parameters replaced by ``***``."""
    parsed = sa.engine.make_url(url)
    query = {k: MASK if SECRET_PARAMETER.search(k) else v for k, v in parsed.query.items()}
    shown = parsed.set(query=query).render_as_string(hide_password=True)
    return shown.replace(urllib.parse.quote_plus(MASK), MASK)


def mask_secrets(text: str, url: str) -> str:
    """``text`` without the URL's password and secret query values."""
    parsed = sa.engine.make_url(url)
    secrets = [parsed.password] if parsed.password else []
    secrets += [str(v) for k, v in parsed.query.items() if SECRET_PARAMETER.search(k)]
    for secret in filter(None, secrets):
        for shown in {secret, urllib.parse.quote(secret), urllib.parse.quote_plus(secret)}:
            text = text.replace(shown, MASK)
    return text


def create_engine(url: str) -> sa.Engine:
    """An engine reading the CDP: DuckDB read-only, PostgreSQL sessions in UTC."""
    parsed = engine_url(url)
    if parsed.get_backend_name() == "duckdb":
        return sa.create_engine(
            parsed,
            hide_parameters=True,
            poolclass=sa.NullPool,
            # Timestamps are made UTC in Python: DuckDB's TimeZone setting needs its icu
            # extension, which may not be installed (nor downloadable) where the tap runs.
            connect_args={"read_only": True},
        )
    return sa.create_engine(
        parsed, hide_parameters=True, connect_args={"options": "-c TimeZone=UTC"}
    )


def qualified_schema(engine: sa.Engine, schema: str) -> str:
    """The schema as SQLAlchemy must name it: DuckDB's with its catalog (the file's name), so
    that a file named like the schema (``cdp.duckdb`` holding ``cdp``) is not ambiguous."""
    if engine.dialect.name != "duckdb":
        return schema
    catalog = Path(engine.url.database or "").stem
    return f"{catalog}.{schema}"


@contextlib.contextmanager
def reading(
    engine: sa.Engine,
    url: str,
    *,
    lock_timeout: float,
    doing: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[sa.Connection]:
    """One read transaction (a consistent snapshot on PostgreSQL), errors as one line.

    A DuckDB file another process holds is retried until ``lock_timeout`` seconds have passed.
    """
    deadline = clock() + lock_timeout
    delay = 0.1
    while True:
        try:
            conn = engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            if _LOCKED.search(str(exc)) and clock() < deadline:
                sleep(min(delay, max(deadline - clock(), 0.0)))
                delay = min(delay * 2, 2.0)
                continue
            raise _read_error(exc, url, doing) from None
        break
    try:
        with conn:
            if engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
    except sa.exc.SQLAlchemyError as exc:
        raise _read_error(exc, url, doing) from None


def _read_error(exc: Exception, url: str, doing: str) -> CDPReadError:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    problem = mask_secrets(detail[0], url) if detail else type(exc).__name__
    if _LOCKED.search(problem):
        problem = "another process holds the DuckDB file (raise lock_timeout to wait longer)"
    elif _NOT_BUILT.search(problem):
        problem = f"{problem.rstrip('.')}; {DBT_HINT}"
    return CDPReadError(f"Database error while {doing} in {masked_url(url)}: {problem}")
