"""Connections to the CDP for reading, on DuckDB or PostgreSQL, that never get in a sync's way.

DuckDB lets one process write a file and nobody else open it meanwhile, and a process holding
it open (even read-only) keeps a sync from starting. So on DuckDB every request opens the file
read-only, reads, and closes it (no pool): between requests the view holds nothing. When a
sync holds the file, opening fails with a lock error, raised here as ``CDPBusyError`` so the
app can serve what it read last and say a sync is running. PostgreSQL has no such limit: a
small pool.

Tables are target-cdp's own definitions (``target_cdp.tables``), never reflected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from target_cdp.database import masked_url
from target_cdp.settings import engine_url
from target_cdp.tables import CDPTables, build_tables

#: DuckDB's resources for the view's reads (the target's own limit is for its writes).
DUCKDB_READ_CONFIG = {"threads": 2, "memory_limit": "512MB"}


class CDPBusyError(RuntimeError):
    """A sync holds the DuckDB file: nothing can be read until it commits and closes it."""


class CDPUnavailableError(RuntimeError):
    """The CDP cannot be read (no file yet, server down); the message is one masked line."""


class Audiences:
    """The dbt audience tables (transform/), as lightweight table clauses."""

    def __init__(self, schema: str) -> None:
        self.members = sa.table(
            "audience_members",
            sa.column("audience"),
            sa.column("member_kind"),
            sa.column("member_id"),
            schema=schema,
        )
        self.membership = sa.table(
            "audience_membership",
            sa.column("membership_id"),
            sa.column("audience"),
            sa.column("member_kind"),
            sa.column("member_id"),
            sa.column("stint_number"),
            sa.column("entered_at"),
            sa.column("exited_at"),
            schema=schema,
        )
        self.builds = sa.table(
            "audience_builds", sa.column("as_of"), sa.column("members"), schema=schema
        )


class CDPReader:
    """Read-only access to one CDP schema and its audiences."""

    def __init__(self, database_url: str, schema: str, audience_schema: str = "audiences") -> None:
        url = engine_url(database_url)
        self.masked = masked_url(database_url)
        self._password = url.password
        self.dialect = url.get_backend_name()
        if self.dialect == "duckdb":
            self.path = Path(url.database or "")
            # A DuckDB file is a catalog named after the file (see target_cdp.database).
            catalog = self.path.stem
            schema, audience_schema = f"{catalog}.{schema}", f"{catalog}.{audience_schema}"
            self.engine = sa.create_engine(
                url,
                poolclass=NullPool,
                hide_parameters=True,
                connect_args={"read_only": True, "config": DUCKDB_READ_CONFIG},
            )
        else:
            self.engine = sa.create_engine(url, pool_size=2, hide_parameters=True)
        self.tables: CDPTables = build_tables(schema)
        self.audiences = Audiences(audience_schema)

    @contextlib.contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """One connection for one request, closed (on DuckDB: the file released) after it."""
        if self.dialect == "duckdb" and not self.path.exists():
            msg = f"The CDP file {self.path} does not exist yet: run a sync first"
            raise CDPUnavailableError(msg)
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            detail = self.mask(str(exc.orig or exc)).strip().splitlines()
            line = detail[0] if detail else type(exc).__name__
            if self.dialect == "duckdb" and "lock" in line.lower():
                raise CDPBusyError(line) from None
            raise CDPUnavailableError(f"Cannot read the CDP in {self.masked}: {line}") from None

    def mask(self, text: str) -> str:
        """``text`` without the database password."""
        return text.replace(str(self._password), "***") if self._password else text

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
