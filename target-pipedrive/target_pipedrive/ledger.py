"""The write-back ledger and error list, in the CDP database (SQLAlchemy Core).

``writeback_ledger`` has one row per (action, source key): what was last sent (payload and its
hash), the Pipedrive id it produced and whether the call is known to have been made
(``status``: ``intent`` written before the call, ``done`` after Pipedrive's answer). The intents
of a batch of calls are committed in one transaction before any of them is sent; a ``done`` is
committed together with the next write (a group commit), and before any STATE goes out.
On DuckDB the file is opened for each read and each commit group and let go after it.
The run is the ledger's only writer, so an action's rows are read once and kept.
``writeback_errors`` keeps every 4xx Pipedrive gave a record, and every record an action
skipped before any call (``status`` null: a template rendered empty or not a number, so the
record's error list is complete while STATE moves past it). The database URL is
target-cdp's ``database_url``, checked and masked by target-cdp's own functions; the tables
live in its schema (``cdp`` by default) and are documented in docs/cdp-schema.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from tap_pipedrive.errors import PipedriveError
from target_cdp.database import hide_values, mask_secrets, masked_url
from target_cdp.settings import engine_url

INTENT = "intent"
DONE = "done"
#: How long to wait for a DuckDB file another process holds (tap-cdp reading it beside this
#: target in `meltano run tap-cdp target-pipedrive`), and what DuckDB says then.
DUCKDB_LOCK_WAIT = 60.0
_DUCKDB_LOCKED = re.compile(r"Could not set lock|Conflicting lock", re.I)


_STATUS_REQUIRED = sa.text(
    "SELECT count(*) FROM information_schema.columns WHERE table_catalog = current_database()"
    " AND table_schema = :schema AND table_name = 'writeback_errors' AND column_name = 'status'"
    " AND is_nullable = 'NO'"
)
_LEDGER_EXISTS = sa.text(
    "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database()"
    " AND table_schema = :schema AND table_name = 'writeback_ledger'"
)


class LedgerError(PipedriveError):
    """The ledger could not be read or written; one line, no secret (the command reports it)."""


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


@dataclass(frozen=True)
class Intent:
    """A row to write as ``intent`` before its call."""

    action: str
    source_key: str
    object_type: str
    payload_hash: str
    payload: dict[str, Any]
    cdp_ids: tuple[str | None, str | None]
    pipedrive_id: int | None = None


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
        sa.Column("status", sa.Integer),  # null: skipped before any call
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
    )
    return ledger, errors


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _wait_for_duckdb_file(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Connect to a DuckDB file, waiting while another process holds it (tap-cdp reading)."""
    deadline = time.monotonic() + DUCKDB_LOCK_WAIT
    while True:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if not _DUCKDB_LOCKED.search(str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Ledger:
    """The ledger of one run."""

    def __init__(
        self, url: str, schema: str, run_id: str, clock: Any = _now, *, writable: bool = True
    ) -> None:
        """``writable=False`` (a dry run) creates nothing: no file, schema or table; a ledger
        not there yet reads as empty."""
        self.url = url
        self.masked = masked_url(url)
        self.run_id = run_id
        self._clock = clock
        self._rows: dict[str, dict[str, Entry]] = {}
        #: (action, source key, Pipedrive id, time) answered but not yet committed ``done``.
        self._pending_done: list[tuple[str, str, int, dt.datetime]] = []
        duckdb = sa.engine.make_url(url).get_backend_name() == "duckdb"
        # A DuckDB file admits one writing process: no pool, so every read and every commit
        # group lets the file go when it ends (target-cdp, a live apply job or cdp-view can
        # use it in between; this run waits for them as it waits for tap-cdp).
        pool = {"poolclass": sa.pool.NullPool} if duckdb else {}
        self.engine = sa.create_engine(engine_url(url), hide_parameters=True, **pool)
        if duckdb:
            sa.event.listen(self.engine, "do_connect", _wait_for_duckdb_file)
        qualified, quoted = schema, f'"{schema}"'
        self.ledger, self.error_table = _tables(qualified)
        #: Whether the tables are there to read (a dry run before any real run: not yet).
        self.present = writable
        if not writable and duckdb and not Path(self.engine.url.database or "").is_file():
            return
        with self.errors("opening the database"):
            if duckdb:
                # A DuckDB file is a catalog named after the file (as target-cdp qualifies it).
                with self.engine.connect() as conn:
                    catalog = conn.exec_driver_sql("SELECT current_database()").scalar_one()
                qualified, quoted = f"{catalog}.{schema}", f'"{catalog}"."{schema}"'
                self.ledger, self.error_table = _tables(qualified)
            if writable:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
                self.ledger.metadata.create_all(self.engine)
                self._allow_null_status(schema, f"{quoted}.writeback_errors")
            else:
                with self.engine.connect() as conn:
                    self.present = bool(conn.execute(_LEDGER_EXISTS, {"schema": schema}).scalar())
        # A DuckDB file admits one process: release it until the first record, so tap-cdp,
        # started beside this target, reads its changes (it reads them all before emitting).
        self.engine.dispose()

    def _allow_null_status(self, schema: str, table: str) -> None:
        """``writeback_errors.status`` made before skips were recorded is NOT NULL: drop that."""
        with self.engine.begin() as conn:
            if conn.execute(_STATUS_REQUIRED, {"schema": schema}).scalar():
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN status DROP NOT NULL")

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

    def _rows_of(self, action: str) -> dict[str, Entry]:
        """The action's rows, read once per run: this run is the ledger's only writer."""
        if action not in self._rows and not self.present:
            self._rows[action] = {}
        if action not in self._rows:
            t = self.ledger
            with self.errors("reading writeback_ledger"), self.engine.connect() as conn:
                found = conn.execute(sa.select(t).where(t.c.action == action))
                self._rows[action] = {
                    row.source_key: Entry(
                        row.action,
                        row.source_key,
                        row.object_type,
                        row.pipedrive_id,
                        row.payload_hash,
                        orjson.loads(row.payload),
                        row.status,
                        row.created_at,
                    )
                    for row in found
                }
        return self._rows[action]

    def get(self, action: str, source_key: str) -> Entry | None:
        """The row of (action, source key), if any."""
        return self._rows_of(action).get(source_key)

    def count(self, action: str) -> int:
        """How many rows an action has (round robin continues from there)."""
        return len(self._rows_of(action))

    def _write(
        self, doing: str, statements: list[Any], new_rows: list[dict[str, Any]] | None = None
    ) -> None:
        """Pending ``done`` rows, ``new_rows`` of the ledger and ``statements`` in one
        transaction (a group commit); rows go as one statement each, many parameter sets."""
        t = self.ledger
        done = [
            {"done_action": action, "done_key": key, "done_id": pid, "done_at": at}
            for action, key, pid, at in self._pending_done
        ]
        with self.errors(doing), self.engine.begin() as conn:
            if done:
                conn.execute(self._done_statement, done)
            if new_rows:
                conn.execute(sa.insert(t), new_rows)
            for statement in statements:
                conn.execute(statement)
        self._pending_done.clear()

    @property
    def _done_statement(self) -> Any:
        t = self.ledger
        return (
            sa.update(t)
            .where(t.c.action == sa.bindparam("done_action"))
            .where(t.c.source_key == sa.bindparam("done_key"))
            .values(
                pipedrive_id=sa.bindparam("done_id"),
                status=DONE,
                updated_at=sa.bindparam("done_at"),
                run_id=self.run_id,
            )
        )

    def _cache(self, entry: Entry | None, action: str, source_key: str) -> None:
        if entry is None:
            self._rows_of(action).pop(source_key, None)
        else:
            self._rows_of(action)[source_key] = entry

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
        """Write the row as ``intent``, committed (with pending ``done`` rows) before the call."""
        self.write_intents(
            [Intent(action, source_key, object_type, payload_hash, payload, cdp_ids, pipedrive_id)]
        )

    def write_intents(self, intents: list[Intent]) -> None:
        """Write the rows as ``intent`` in one transaction (with pending ``done`` rows), committed
        before any of their calls is made."""
        now = self._clock()
        t = self.ledger
        statements: list[Any] = []
        new_rows: list[dict[str, Any]] = []
        entries = []
        for intent in intents:
            previous = self.get(intent.action, intent.source_key)
            values = {
                "object_type": intent.object_type,
                "pipedrive_id": intent.pipedrive_id,
                "payload_hash": intent.payload_hash,
                "payload": orjson.dumps(intent.payload).decode(),
                "status": INTENT,
                "cdp_person_id": intent.cdp_ids[0],
                "cdp_deal_id": intent.cdp_ids[1],
                "updated_at": now,
                "run_id": self.run_id,
            }
            if previous is None:
                key = {"action": intent.action, "source_key": intent.source_key}
                new_rows.append({**key, "created_at": now, **values})
            else:
                where = (t.c.action == intent.action) & (t.c.source_key == intent.source_key)
                statements.append(sa.update(t).where(where).values(**values))
            created = previous.created_at if previous else now
            entries.append(
                Entry(
                    intent.action,
                    intent.source_key,
                    intent.object_type,
                    intent.pipedrive_id,
                    intent.payload_hash,
                    intent.payload,
                    INTENT,
                    created,
                )
            )
        self._write("writing writeback_ledger", statements, new_rows)
        for entry in entries:
            self._cache(entry, entry.action, entry.source_key)

    def write_done(self, action: str, source_key: str, pipedrive_id: int) -> None:
        """Record the id Pipedrive answered. Committed with the next write (or ``flush``): a
        row left ``intent`` by a crash in between is found again by the lookup before create."""
        self._pending_done.append((action, source_key, pipedrive_id, self._clock()))
        entry = self.get(action, source_key)
        if entry is not None:
            self._cache(replace(entry, pipedrive_id=pipedrive_id, status=DONE), action, source_key)

    def flush(self) -> None:
        """Commit the pending ``done`` rows (before a STATE goes out, and at the end)."""
        if self._pending_done:
            self._write("writing writeback_ledger", [])

    def restore(self, entry: Entry) -> None:
        """Put a row back as it was (a call refused before anything was written)."""
        t = self.ledger
        statement = (
            sa.update(t)
            .where(t.c.action == entry.action, t.c.source_key == entry.source_key)
            .values(
                payload_hash=entry.payload_hash,
                payload=orjson.dumps(entry.payload).decode(),
                status=entry.status,
                pipedrive_id=entry.pipedrive_id,
            )
        )
        self._write("writing writeback_ledger", [statement])
        self._cache(entry, entry.action, entry.source_key)

    def forget(self, action: str, source_key: str) -> None:
        """Delete an intent whose call certainly wrote nothing (refused, or never sent)."""
        t = self.ledger
        statement = sa.delete(t).where(
            t.c.action == action, t.c.source_key == source_key, t.c.status == INTENT
        )
        self._write("writing writeback_ledger", [statement])
        self._cache(None, action, source_key)

    def record_error(self, action: str, source_key: str, status: int | None, message: str) -> None:
        """Keep Pipedrive's refusal of one record (``status`` None: skipped, nothing sent)."""
        statement = sa.insert(self.error_table).values(
            action=action,
            source_key=source_key,
            status=status,
            message=message[:2000],
            occurred_at=self._clock(),
            run_id=self.run_id,
        )
        self._write("writing writeback_errors", [statement])

    def dispose(self) -> None:
        """Commit what is pending and close the connections (DuckDB releases its file)."""
        self.flush()
        self.engine.dispose()
