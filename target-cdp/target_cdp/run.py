"""One run of the target: its ``sync_runs`` row, counts, end-of-run purge and summary.

A run's row says ``running`` until the run records its end: ``succeeded``, ``failed``, or
``aborted`` (stopped by a signal). A process killed outside Python (``kill -9``, a crash of the
machine) records nothing, so each run starts by closing as ``aborted`` the rows left
``running`` by runs whose process is gone: a run that is still going holds its run lock
(``bulk.hold_run_lock``) and is left alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections import Counter, defaultdict

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activity_log import ActivityLog
from target_cdp.database import Database
from target_cdp.links import Links
from target_cdp.settings import Settings
from target_cdp.writeback import Writebacks

logger = logging.getLogger(__name__)

COUNT_KEYS = (
    "inserted",
    "updated",
    "unchanged",
    "skipped",
    "rejected",
    "deleted",
    "activities",
    "purged",
    "associations_cut",
)


class Run:
    """Everything the sinks of one run share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_id = str(uuid.uuid4())
        self.started_at = dt.datetime.now(tz=dt.UTC)
        self.db = Database(settings)
        self.db.migrate()
        self.tables = self.db.tables
        self.links = Links(self.tables, settings)
        self.activity_log = ActivityLog(self.tables, settings, now=self.started_at)
        self.writebacks = Writebacks(settings.schema, self.tables.people.schema)
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        #: Table versions of the records received, per stream (ACTIVATE_VERSION bookkeeping).
        self.versions_received: dict[str, set[int]] = defaultdict(set)
        #: What the run's row says: None before ``start`` committed it.
        self.status: str | None = None
        self._lock: sa.Connection | None = None

    def start(self) -> None:
        """Record the run ``running`` (the target holds the run first: a signal right after
        this commit finds it, and closes its row)."""
        # Held before the row exists: a run seen ``running`` without its lock is gone.
        with self.db.errors("starting the run"):
            self._lock = bulk.hold_run_lock(self.db.engine, run_lock_key(self.run_id))
        with self.db.transaction("starting the run") as conn:
            self.activity_log.load_definitions(conn)
            self._close_abandoned(conn)
            conn.execute(
                sa.insert(self.tables.sync_runs).values(
                    run_id=self.run_id, started_at=self.started_at, status="running", counts={}
                )
            )
        self.status = "running"

    def _close_abandoned(self, conn: sa.Connection) -> None:
        """Close as ``aborted`` the runs left ``running`` by a process that is gone."""
        runs = self.tables.sync_runs
        running = conn.execute(sa.select(runs.c.run_id).where(runs.c.status == "running"))
        gone = [r for r in running.scalars() if not bulk.run_is_live(conn, run_lock_key(r))]
        if not gone:
            return
        logger.warning("Closing %d run(s) left running by a killed process as aborted", len(gone))
        conn.execute(
            sa.update(runs)
            .where(bulk.among(runs.c.run_id, gone))
            .values(
                status="aborted",
                error=f"the process ended without recording the run; closed by run {self.run_id}",
            )
        )

    def add(self, counts: dict[str, Counter[str]]) -> None:
        """Add the counts of a committed batch."""
        for stream, counter in counts.items():
            self.counts[stream].update(counter)

    def finish(self) -> None:
        """Purge activities outside retention, record the run, log its summary."""
        with self.db.transaction("purging activities and capping associations") as conn:
            for stream, purged in self.activity_log.purge(conn).items():
                self.counts[stream]["purged"] += purged
            for stream, cut in self.links.trim(conn).items():
                self.counts[stream]["associations_cut"] += cut
        self._close("succeeded", None)
        for line in self.summary_lines():
            logger.info(line)

    def fail(self, error: BaseException) -> None:
        """Record a failed run (best effort: the database may be what failed)."""
        line = str(error).splitlines()[0] if str(error) else type(error).__name__
        self._close_at_last("failed", self.db.mask(line))

    def abort(self, signal_name: str) -> None:
        """Record a run stopped by a signal (best effort, as ``fail``)."""
        self._close_at_last("aborted", f"stopped by {signal_name}")

    def _close_at_last(self, status: str, error: str) -> None:
        try:
            self._close(status, error)
        except Exception:  # noqa: BLE001 - the original error is what matters
            logger.warning("Could not record the %s run in sync_runs", status)
        self.dispose()

    def dispose(self) -> None:
        """Release the run lock and every connection (DuckDB releases its file lock)."""
        if self._lock is not None:
            self._lock.close()
        self.db.dispose()

    def _close(self, status: str, error: str | None) -> None:
        """Record the run's end, once: a row no longer ``running`` keeps its status (a signal
        after ``succeeded`` was recorded does not make it ``aborted``)."""
        if self.status not in {None, "running"}:
            return
        counts = {s: {k: c.get(k, 0) for k in COUNT_KEYS} for s, c in sorted(self.counts.items())}
        runs = self.tables.sync_runs
        with self.db.transaction("recording the run") as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == self.run_id, runs.c.status == "running")
                .values(
                    finished_at=dt.datetime.now(tz=dt.UTC),
                    status=status,
                    counts=counts,
                    error=error,
                )
            )
        self.status = status

    def summary_lines(self) -> list[str]:
        """The end-of-run summary, one line per stream."""
        lines = [
            f"target-cdp run {self.run_id} into {self.db.masked} schema {self.settings.schema}:"
        ]
        for stream, counter in sorted(self.counts.items()):
            parts = ", ".join(f"{k} {counter.get(k, 0)}" for k in COUNT_KEYS)
            lines.append(f"  {stream}: {parts}")
        return lines


def run_lock_key(run_id: str) -> int:
    """The run lock of a run: a signed 64-bit number derived from its id."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big", signed=True)
