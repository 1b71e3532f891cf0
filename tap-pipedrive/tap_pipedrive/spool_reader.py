"""Reading the webhook spool that ``pipedrive-webhooks`` writes, for the live mode.

The receiver depends on this package (it authenticates with :mod:`tap_pipedrive.auth`), so the
tap cannot import the receiver. The spool's documented table is the contract between the two
(``pipedrive-webhooks`` README, "The spool"): ``webhook_events`` with ``seq`` (the position:
only grows, an event with a smaller ``seq`` never becomes visible after a larger one),
``entity``, ``entity_id`` and ``body`` (the delivery as received), and ``webhook_runs``, where
the applying job reports the position it applied through (``applied_through`` of the run
``PIPEDRIVE_WEBHOOKS_RUN_ID`` names; it counts once the run exits 0). A run reads up to the
position the spool had when the run started, so every stream stops at the same event and
events arriving meanwhile are the next run's. The tap never creates a table: a database
without the spool's tables is one line (an empty spool created in its place would hide a
mistyped ``webhook_spool``). ``tap-pipedrive/tests/test_tap_live.py`` writes with the
receiver's spool and reads with this module, so the two sides stay in agreement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tap_pipedrive.errors import ConfigError

EVENTS_TABLE = "webhook_events"
BATCH_SIZE = 1000

_runs = sa.table(
    "webhook_runs", sa.column("run_id", sa.BigInteger), sa.column("applied_through", sa.BigInteger)
)
_events = sa.table(
    EVENTS_TABLE,
    sa.column("seq", sa.BigInteger),
    sa.column("action", sa.String),
    sa.column("entity", sa.String),
    sa.column("entity_id", sa.String),
    sa.column("occurred_at", sa.String),
    sa.column("body", sa.Text),
)


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    """One spooled webhook event: its position and the delivery body, parsed."""

    seq: int
    action: str
    entity: str
    entity_id: str
    payload: dict[str, Any]


def engine_url(spool: str) -> str:
    """A SQLAlchemy URL for the ``webhook_spool`` setting, read as the receiver reads its
    ``spool_url``: a bare path is a SQLite file, ``postgresql://`` uses psycopg 3."""
    if "://" not in spool:
        return f"sqlite:///{spool}"
    if spool.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + spool.split("://", 1)[1]
    return spool


class SpoolReader:
    """Events of one spool, read by position."""

    def __init__(self, spool: str) -> None:
        """Connect (lazily) to the spool named by the ``webhook_spool`` setting.

        Raises:
            ConfigError: a SQLite spool file that does not exist (SQLite would create it).
        """
        url = make_url(engine_url(spool))
        self._shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            msg = (
                f"webhook_spool {self._shown} does not exist; set it to the receiver's "
                "spool_url (pipedrive-webhooks serve creates it)"
            )
            raise ConfigError(msg)
        self._engine = sa.create_engine(url)

    def _execute(self, statement: sa.Executable, *, commit: bool = False) -> list[Any]:
        """The statement's rows (none when ``commit``), or one line naming the spool."""
        try:
            if commit:
                with self._engine.begin() as conn:
                    conn.execute(statement)
                return []
            with self._engine.connect() as conn:
                return list(conn.execute(statement).mappings())
        except sa.exc.SQLAlchemyError as exc:
            cause = type(getattr(exc, "orig", None) or exc).__name__
            msg = (
                f"webhook_spool {self._shown} cannot be read as a pipedrive-webhooks spool "
                f"({cause}: no {EVENTS_TABLE} table, or the database is unreachable); set "
                "webhook_spool to the receiver's spool_url"
            )
            raise ConfigError(msg) from None

    def position(self) -> int:
        """The newest event's ``seq`` (0 for an empty spool).

        Raises:
            ConfigError: the database has no spool table (or cannot be opened).
        """
        newest = sa.func.coalesce(sa.func.max(_events.c.seq), 0).label("newest")
        return int(self._execute(sa.select(newest))[0]["newest"])

    def read_after(self, position: int, entity: str, through: int) -> Iterator[SpooledEvent]:
        """Every event of ``entity`` (``person``...) after ``position`` up to ``through``, in
        ``seq`` order.

        Raises:
            ConfigError: the database has no spool table (or cannot be opened).
        """
        while True:
            query = (
                sa.select(_events)
                .where(
                    _events.c.seq > position,
                    _events.c.seq <= through,
                    _events.c.entity == entity,
                )
                .order_by(_events.c.seq)
                .limit(BATCH_SIZE)
            )
            rows = self._execute(query)
            for row in rows:
                yield SpooledEvent(
                    seq=int(row["seq"]),
                    action=row["action"],
                    entity=row["entity"],
                    entity_id=row["entity_id"],
                    payload=orjson.loads(row["body"]),
                )
            if len(rows) < BATCH_SIZE:
                return
            position = int(rows[-1]["seq"])

    def record_applied(self, run_id: int, through: int) -> None:
        """Report to the receiver that its run ``run_id`` handed on every event up to
        ``through`` (what ``pipedrive_webhooks.Spool.record_applied`` writes).

        Raises:
            ConfigError: the database has no spool table (or cannot be written).
        """
        statement = sa.update(_runs).where(_runs.c.run_id == run_id).values(applied_through=through)
        self._execute(statement, commit=True)
