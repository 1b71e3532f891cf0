"""The safety net's last run, read from Meltano's run history.

Webhooks miss what Pipedrive could not deliver while the receiver was down (3 retries within
about 3 minutes, nothing during a ban), so the scheduled polling job (``sync-cdp``) stays. So
that ``status`` and the receiver's start-up log show it next to the webhook-triggered runs,
its newest run is read from Meltano's system database (table ``runs``: ``job_name`` is the
state id, e.g. ``dev:tap-pipedrive-to-target-cdp``), read-only. Meltano's tables are its own
business: anything unexpected is reported as "could not read", never as a failure of ours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pipedrive_webhooks.spool import spool_engine_url

CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class PollRun:
    """One run of the polling job as Meltano recorded it."""

    state_id: str
    state: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None


def _read_only_url(database_uri: str) -> str | None:
    """A URL that cannot create or change the database; None for a SQLite file that is absent."""
    url = make_url(spool_engine_url(database_uri))  # postgresql:// -> psycopg 3
    if url.get_backend_name() != "sqlite":
        return url.render_as_string(hide_password=False)
    if not url.database or not Path(url.database).is_file():
        return None
    return f"sqlite:///file:{url.database}?mode=ro&uri=true"


def last_poll_run(database_uri: str, state_id: str) -> PollRun | None:
    """The newest run of ``state_id`` in any environment (``<env>:<state_id>``), or None.

    Raises:
        OSError: when the run history cannot be read; the message names no password.
    """
    url = _read_only_url(database_uri)
    shown = make_url(database_uri).render_as_string(hide_password=True)
    if url is None:
        msg = f"no Meltano system database at {shown}"
        raise OSError(msg)
    engine = create_engine(url)
    query = text(
        "SELECT job_name, state, started_at, ended_at FROM runs "
        "WHERE job_name LIKE :pattern ORDER BY id DESC LIMIT :limit"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query, {"pattern": f"%{state_id}", "limit": CANDIDATES}).all()
    except SQLAlchemyError as exc:
        msg = f"could not read Meltano's run history at {shown} ({type(exc).__name__})"
        raise OSError(msg) from None
    finally:
        engine.dispose()
    for name, state, started_at, ended_at in rows:
        if name == state_id or name.endswith(f":{state_id}"):
            return PollRun(name, str(state), _utc(started_at), _utc(ended_at))
    return None


def _utc(value: object) -> dt.datetime | None:
    # Meltano stores naive UTC times (as text in SQLite).
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
