"""The write-back ledger and error list, in the CDP database (SQLAlchemy Core).

``writeback_ledger`` has one row per (action, source key): what was last sent (payload and its
hash), the Pipedrive id it produced and whether the call is known to have been made
(``status``: ``intent`` written before the call, ``done`` after Pipedrive's answer). Each step
commits on its own: the intent is durable before anything is sent. ``writeback_errors`` keeps
every 4xx Pipedrive gave a record. The database URL is target-cdp's ``database_url``, checked
and masked by target-cdp's own functions; the tables live in its schema (``cdp`` by default)
and are documented in docs/cdp-schema.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from target_cdp.database import hide_values, mask_secrets, masked_url

INTENT = "intent"
DONE = "done"


class LedgerError(RuntimeError):
    """The ledger could not be read or written; one line, no secret."""


@dataclass(frozen=True)
class Entry:
    """A ledger row."""

    action: str
    source_key: str
    object_type: str
    pipedrive_id: int | None
    payload_hash: str
    payload: dict[str, Any]
    status: str
    created_at: dt.datetime


def _tables(schema: str | None) -> tuple[sa.Table, sa.Table]:
    metadata = sa.MetaData(schema=schema)
    ledger = sa.Table(
        "writeback_ledger",
        metadata,
        sa.Column("action", sa.Text, primary_key=True),
        sa.Column("source_key", sa.Text, primary_key=True),
        sa.Column("object_type", sa.Text, nullable=False),
        sa.Column("pipedrive_id", sa.BigInteger),
        sa.Column("payload_hash", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("cdp_person_id", sa.Text),
        sa.Column("cdp_deal_id", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
    )
    errors = sa.Table(
        "writeback_errors",
        metadata,
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
    )
    return ledger, errors


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ledger:
    """The ledger of one run."""

    def __init__(self, url: str, schema: str, run_id: str, clock: Any = _now) -> None:
        self.url = url
        self.masked = masked_url(url)
        self.run_id = run_id
        self._clock = clock
        self.engine = sa.create_engine(url, hide_parameters=True)
        qualified, quoted = schema, f'"{schema}"'
        with self.errors("opening the database"):
            if self.engine.dialect.name == "duckdb":
                # A DuckDB file is a catalog named after the file (as target-cdp qualifies it).
                with self.engine.connect() as conn:
                    catalog = conn.exec_driver_sql("SELECT current_database()").scalar_one()
                qualified, quoted = f"{catalog}.{schema}", f'"{catalog}"."{schema}"'
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            self.ledger, self.error_table = _tables(qualified)
            self.ledger.metadata.create_all(self.engine)

    @contextlib.contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Database errors as one ``LedgerError`` line without secrets or values."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            problem = hide_values(mask_secrets(detail[0], self.url)) if detail else "error"
            msg = f"Database error while {doing} in {self.masked}: {problem}"
            raise LedgerError(msg) from None

    def get(self, action: str, source_key: str) -> Entry | None:
        """The row of (action, source key), if any."""
        t = self.ledger
        with self.errors("reading writeback_ledger"), self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.action == action, t.c.source_key == source_key)
            ).first()
        if row is None:
            return None
        return Entry(
            row.action,
            row.source_key,
            row.object_type,
            row.pipedrive_id,
            row.payload_hash,
            orjson.loads(row.payload),
            row.status,
            row.created_at,
        )

    def count(self, action: str) -> int:
        """How many rows an action has (round robin continues from there)."""
        t = self.ledger
        with self.errors("reading writeback_ledger"), self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(t).where(t.c.action == action)
            return int(conn.execute(query).scalar_one())

    def write_intent(
        self,
        action: str,
        source_key: str,
        object_type: str,
        payload_hash: str,
        payload: dict[str, Any],
        cdp_ids: tuple[str | None, str | None],
        pipedrive_id: int | None = None,
    ) -> None:
        """Insert or replace the row as ``intent``: committed before the call is made."""
        now = self._clock()
        values = {
            "object_type": object_type,
            "pipedrive_id": pipedrive_id,
            "payload_hash": payload_hash,
            "payload": orjson.dumps(payload).decode(),
            "status": INTENT,
            "cdp_person_id": cdp_ids[0],
            "cdp_deal_id": cdp_ids[1],
            "updated_at": now,
            "run_id": self.run_id,
        }
        t = self.ledger
        with self.errors("writing writeback_ledger"), self.engine.begin() as conn:
            where = (t.c.action == action) & (t.c.source_key == source_key)
            changed = conn.execute(sa.update(t).where(where).values(**values)).rowcount
            if not changed:
                conn.execute(
                    sa.insert(t).values(
                        action=action, source_key=source_key, created_at=now, **values
                    )
                )

    def write_done(self, action: str, source_key: str, pipedrive_id: int) -> None:
        """Record the id Pipedrive answered: the call is made."""
        t = self.ledger
        with self.errors("writing writeback_ledger"), self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.action == action, t.c.source_key == source_key)
                .values(
                    pipedrive_id=pipedrive_id,
                    status=DONE,
                    updated_at=self._clock(),
                    run_id=self.run_id,
                )
            )

    def restore(self, entry: Entry) -> None:
        """Put a row back as it was (a call refused before anything was written)."""
        t = self.ledger
        with self.errors("writing writeback_ledger"), self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.action == entry.action, t.c.source_key == entry.source_key)
                .values(
                    payload_hash=entry.payload_hash,
                    payload=orjson.dumps(entry.payload).decode(),
                    status=entry.status,
                    pipedrive_id=entry.pipedrive_id,
                )
            )

    def forget(self, action: str, source_key: str) -> None:
        """Delete an intent whose call certainly wrote nothing (refused, or never sent)."""
        t = self.ledger
        with self.errors("writing writeback_ledger"), self.engine.begin() as conn:
            conn.execute(
                sa.delete(t).where(
                    t.c.action == action, t.c.source_key == source_key, t.c.status == INTENT
                )
            )

    def record_error(self, action: str, source_key: str, status: int, message: str) -> None:
        """Keep Pipedrive's refusal of one record."""
        with self.errors("writing writeback_errors"), self.engine.begin() as conn:
            conn.execute(
                sa.insert(self.error_table).values(
                    action=action,
                    source_key=source_key,
                    status=status,
                    message=message[:2000],
                    occurred_at=self._clock(),
                    run_id=self.run_id,
                )
            )

    def dispose(self) -> None:
        """Close the connections (DuckDB releases its file)."""
        self.engine.dispose()
