"""Reading the webhook spool that ``pipedrive-webhooks`` writes, for the live mode.

The receiver depends on this package (it authenticates with :mod:`tap_pipedrive.auth`), so the
tap cannot import the receiver. The spool's documented table is the contract between the two
(``pipedrive-webhooks`` README, "The spool"): ``webhook_events`` with ``seq`` (the position:
only grows, an event with a smaller ``seq`` never becomes visible after a larger one),
``entity``, ``entity_id`` and ``body`` (the delivery as received). The tap only reads it, and
refuses a database without that table in one line instead of creating an empty one, which
would hide a mistyped ``webhook_spool``. ``tests/tap/test_tap_live.py`` writes with the
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

    def read_after(self, position: int, entity: str) -> Iterator[SpooledEvent]:
        """Every event of ``entity`` (``person``...) after ``position``, in ``seq`` order.

        Raises:
            ConfigError: the database has no spool table (or cannot be opened).
        """
        while True:
            query = (
                sa.select(_events)
                .where(_events.c.seq > position, _events.c.entity == entity)
                .order_by(_events.c.seq)
                .limit(BATCH_SIZE)
            )
            try:
                with self._engine.connect() as conn:
                    rows = conn.execute(query).mappings().all()
            except sa.exc.SQLAlchemyError as exc:
                cause = type(getattr(exc, "orig", None) or exc).__name__
                msg = (
                    f"webhook_spool {self._shown} cannot be read as a pipedrive-webhooks spool "
                    f"({cause}: no {EVENTS_TABLE} table, or the database is unreachable); set "
                    "webhook_spool to the receiver's spool_url"
                )
                raise ConfigError(msg) from None
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
