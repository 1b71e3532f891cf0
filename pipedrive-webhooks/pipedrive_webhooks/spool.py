"""The spool: every acknowledged webhook event, durably, in the order it was committed.

The receiver answers 2xx only after an event's transaction has committed here, so an
acknowledged event survives ``kill -9``. Events are unique by Pipedrive's event id
(``meta.id``): a redelivery is acknowledged again but stored once.

Each event gets ``seq``, a number assigned at insert that only grows. Readers (the live tap)
keep a position and read ``read_after(position)``; for that to lose nothing, an event with a
smaller ``seq`` must never become visible after one with a larger ``seq``. SQLite has a single
writer, so commit order is ``seq`` order. On PostgreSQL (several receivers) each insert
transaction holds one advisory lock until it commits, which gives the same guarantee.

The applying job's runs are recorded in ``webhook_runs``: the receiver's trigger opens and
closes a run (``begin_run``/``finish_run``, the run id reaches the command as
``PIPEDRIVE_WEBHOOKS_RUN_ID``), and the job reports the position it applied through
(``record_applied``). A position counts as applied only once its run finished with exit code 0.

Malformed deliveries go to ``webhook_dead_letters`` with the reason, one row per distinct body
(Pipedrive retries a refused delivery three times; the row counts the deliveries).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from pipedrive_webhooks.payload import MAX_EVENT_ID_LENGTH, MAX_WORD_LENGTH, WebhookEvent

# Any constant works; it only has to be the same for every receiver writing one spool.
PG_INSERT_LOCK = 0x5049_5045_5748  # "PIPEWH"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias must be INTEGER
_TIME = DateTime(timezone=True)

metadata = MetaData()

events = Table(
    "webhook_events",
    metadata,
    Column("seq", _ID, primary_key=True, autoincrement=True),
    Column("event_id", String(MAX_EVENT_ID_LENGTH), nullable=False, unique=True),
    Column("received_at", _TIME, nullable=False),
    Column("action", String(MAX_WORD_LENGTH), nullable=False),
    Column("entity", String(MAX_WORD_LENGTH), nullable=False),
    Column("entity_id", String(MAX_EVENT_ID_LENGTH), nullable=False),
    Column("occurred_at", String(MAX_WORD_LENGTH)),
    Column("attempt", Integer),
    Column("body", Text, nullable=False),
    sqlite_autoincrement=True,  # never reuse a seq, even after the newest row is deleted
)

dead_letters = Table(
    "webhook_dead_letters",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("body_sha256", String(64), nullable=False, unique=True),
    Column("reason", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("content_type", String(255)),
    Column("body", LargeBinary, nullable=False),
    Column("body_size", BigInteger, nullable=False),
    Column("deliveries", Integer, nullable=False),
    Column("first_received_at", _TIME, nullable=False),
    Column("last_received_at", _TIME, nullable=False),
    sqlite_autoincrement=True,
)

runs = Table(
    "webhook_runs",
    metadata,
    Column("run_id", _ID, primary_key=True, autoincrement=True),
    Column("reason", Text, nullable=False),
    Column("started_at", _TIME, nullable=False),
    Column("finished_at", _TIME),
    Column("exit_code", Integer),
    Column("spool_position_at_start", BigInteger, nullable=False),
    Column("applied_through", BigInteger),
    sqlite_autoincrement=True,
)


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    """An event as the spool keeps it; ``payload`` is the delivery body, parsed."""

    seq: int
    event_id: str
    received_at: dt.datetime
    action: str
    entity: str
    entity_id: str
    occurred_at: str | None
    attempt: int | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of the applying job."""

    run_id: int
    reason: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    exit_code: int | None
    spool_position_at_start: int
    applied_through: int | None


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """What ``status`` shows about the spool."""

    events: int
    position: int
    applied_position: int
    backlog: int
    last_event: SpooledEvent | None
    dead_letters: int
    last_dead_letter_reason: str | None
    last_dead_letter_at: dt.datetime | None
    last_run: RunRecord | None


def utc_now() -> dt.datetime:
    """Now, as an aware UTC time."""
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes; every time the spool writes is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def spool_engine_url(spool_url: str) -> str:
    """A SQLAlchemy URL for ``spool_url``: a bare path is a SQLite file, ``postgresql://`` uses
    psycopg 3."""
    if "://" not in spool_url:
        return f"sqlite:///{spool_url}"
    if spool_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + spool_url.split("://", 1)[1]
    return spool_url


def masked_url(spool_url: str) -> str:
    """``spool_url`` with its password replaced by ``***``, for logs and errors."""
    return make_url(spool_engine_url(spool_url)).render_as_string(hide_password=True)


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _durable(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    msg = (
        f"spool_url {parsed.render_as_string(hide_password=True)!r} is neither SQLite nor "
        "PostgreSQL: use a file path, sqlite:///path or postgresql://user@host/db"
    )
    raise ValueError(msg)


class Spool:
    """The spool's tables in one database (created on first use)."""

    def __init__(self, spool_url: str) -> None:
        """Connect and create the tables if missing.

        Raises:
            ValueError: for a URL that is neither SQLite nor PostgreSQL.
        """
        self.engine = _make_engine(spool_engine_url(spool_url))
        self.display_url = self.engine.url.render_as_string(hide_password=True)
        self._postgres = self.engine.dialect.name == "postgresql"
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self._postgres else sqlite
        return dialect.insert(table)

    # -- the receiver ------------------------------------------------------------------------

    def append(self, batch: Sequence[WebhookEvent], received_at: dt.datetime) -> int:
        """Store a batch in one committed transaction; redelivered event ids are skipped.

        The ids already stored are looked up first and only new events are inserted, with a
        plain ``INSERT``: SQLAlchemy caches its compiled form, while a dialect's
        ``ON CONFLICT DO NOTHING`` is compiled again for every batch (most of the CPU of a
        small batch). The unique index stays the guarantee: a concurrent writer inserting the
        same id in between fails this batch (503, Pipedrive retries) instead of storing it
        twice; on PostgreSQL the advisory lock rules even that out.

        Returns:
            How many events of the batch were new.
        """
        unique = {item.event_id: item for item in reversed(batch)}  # the first of a repeated id
        with self.engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_INSERT_LOCK})
            known = set(
                conn.execute(
                    select(events.c.event_id).where(events.c.event_id.in_(list(unique)))
                ).scalars()
            )
            rows = [
                {
                    "event_id": item.event_id,
                    "received_at": received_at,
                    "action": item.action,
                    "entity": item.entity,
                    "entity_id": item.entity_id,
                    "occurred_at": item.occurred_at,
                    "attempt": item.attempt,
                    "body": item.body.decode(),
                }
                for item in batch
                if item.event_id not in known and unique.get(item.event_id) is item
            ]
            if rows:
                conn.execute(events.insert(), rows)
        return len(rows)

    def add_dead_letter(
        self,
        *,
        reason: str,
        status_code: int,
        body: bytes,
        body_size: int,
        content_type: str | None,
        received_at: dt.datetime,
    ) -> None:
        """Keep a refused delivery with the reason (a repeated body counts one more delivery)."""
        statement = self._insert(dead_letters).values(
            body_sha256=hashlib.sha256(body).hexdigest(),
            reason=reason,
            status_code=status_code,
            content_type=(content_type or "")[:255] or None,
            body=body,
            body_size=body_size,
            deliveries=1,
            first_received_at=received_at,
            last_received_at=received_at,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[dead_letters.c.body_sha256],
            set_={
                "deliveries": dead_letters.c.deliveries + 1,
                "last_received_at": statement.excluded.last_received_at,
            },
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    # -- readers (the live tap) -------------------------------------------------------------

    def position(self) -> int:
        """The newest event's ``seq`` (0 when the spool is empty)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()

    def count_after(self, position: int) -> int:
        """How many events have ``seq > position``."""
        query = select(func.count()).select_from(events).where(events.c.seq > position)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def read_after(self, position: int, limit: int = 1000) -> list[SpooledEvent]:
        """Up to ``limit`` events with ``seq > position``, in ``seq`` order."""
        query = select(events).where(events.c.seq > position).order_by(events.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [_event(row) for row in conn.execute(query).mappings()]

    # -- the applying job's runs ------------------------------------------------------------

    def begin_run(self, reason: str) -> RunRecord:
        """Record the start of a run of the applying job."""
        started_at = utc_now()
        with self.engine.begin() as conn:
            position = conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()
            run_id = conn.execute(
                runs.insert().values(
                    reason=reason, started_at=started_at, spool_position_at_start=position
                )
            ).inserted_primary_key[0]
        return RunRecord(run_id, reason, started_at, None, None, position, None)

    def record_applied(self, run_id: int, through: int) -> None:
        """The applying job read and handed on every event up to ``through``."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs).where(runs.c.run_id == run_id).values(applied_through=through)
            )

    def finish_run(self, run_id: int, exit_code: int) -> None:
        """Record how a run ended."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(finished_at=utc_now(), exit_code=exit_code)
            )

    def recent_runs(self, limit: int = 10) -> list[RunRecord]:
        """The newest runs, newest first, finished or not."""
        query = select(runs).order_by(runs.c.run_id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def last_run(self) -> RunRecord | None:
        """The newest run, finished or not."""
        newest = self.recent_runs(1)
        return newest[0] if newest else None

    def applied_position(self) -> int:
        """The highest position a successful run applied through (0 if none)."""
        query = select(func.coalesce(func.max(runs.c.applied_through), 0)).where(
            runs.c.exit_code == 0
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # -- status -----------------------------------------------------------------------------

    def status(self) -> SpoolStatus:
        """Counts, the newest event, dead letters, the applied position and the last run."""
        applied = self.applied_position()
        with self.engine.connect() as conn:
            count, position = conn.execute(
                select(func.count(), func.coalesce(func.max(events.c.seq), 0))
            ).one()
            newest = conn.execute(select(events).where(events.c.seq == position)).mappings().first()
            letters, last_letter_at = conn.execute(
                select(func.count(), func.max(dead_letters.c.last_received_at))
            ).one()
            last_reason = conn.execute(
                select(dead_letters.c.reason)
                .order_by(dead_letters.c.last_received_at.desc(), dead_letters.c.id.desc())
                .limit(1)
            ).scalar()
        return SpoolStatus(
            events=count,
            position=position,
            applied_position=applied,
            backlog=self.count_after(applied),
            last_event=None if newest is None else _event(newest),
            dead_letters=letters,
            last_dead_letter_reason=last_reason,
            last_dead_letter_at=_aware(last_letter_at),
            last_run=self.last_run(),
        )


def _event(row: Any) -> SpooledEvent:
    return SpooledEvent(
        seq=row["seq"],
        event_id=row["event_id"],
        received_at=_aware(row["received_at"]),
        action=row["action"],
        entity=row["entity"],
        entity_id=row["entity_id"],
        occurred_at=row["occurred_at"],
        attempt=row["attempt"],
        payload=orjson.loads(row["body"]),
    )


def _run(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        reason=row["reason"],
        started_at=_aware(row["started_at"]),
        finished_at=_aware(row["finished_at"]),
        exit_code=row["exit_code"],
        spool_position_at_start=row["spool_position_at_start"],
        applied_through=row["applied_through"],
    )
