"""The ``api_usage`` stream: the Pipedrive API requests and tokens each tap run spent.

tap-pipedrive sends one record per run, after its other streams. Each is stored as it came in
``api_usage``, keyed by the tap's ``run_id``, with the target run that first stored it (a
replayed record changes nothing). Runs are history: ACTIVATE_VERSION retires nothing here.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.checks import column_json_types, time_problem, type_problem
from target_cdp.records import parse_time
from target_cdp.sinks.base import CDPSink, Incoming

COLUMNS = ("run_id", "requests", "tokens", "token_budget", "outcome")
TIMES = ("started_at", "finished_at")


class ApiUsageSink(CDPSink):
    """One row of ``api_usage`` per tap run."""

    def check(self, record: dict) -> str | None:
        """Why the record cannot be stored (None when it can)."""
        run_id = record.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            return f"run_id must be a non-empty string, got {run_id!r}"
        streams = record.get("streams")
        if streams is not None and not isinstance(streams, list):
            return f"streams must be a list or null, got {type(streams).__name__}"
        return time_problem(record, TIMES) or type_problem(
            record, column_json_types(self.run.tables.api_usage, COLUMNS)
        )

    def write(
        self, conn: sa.Connection, items: list[Incoming], counts: dict[str, Counter[str]]
    ) -> None:
        """Insert each new run's row (the last copy of a run in the batch wins)."""
        rejected, rows = [], {}
        for item in items:
            reason = item.rejection or self.check(item.record)
            if reason:
                rejected.append((item, reason))
                continue
            record = item.record
            rows[record["run_id"]] = {
                **{name: record.get(name) for name in COLUMNS},
                **{name: parse_time(record.get(name)) for name in TIMES},
                "streams": record.get("streams"),
                "sync_run_id": self.run.run_id,
            }
        self.reject(conn, rejected, counts)
        table = self.run.tables.api_usage
        if rows:
            stored = set(
                conn.execute(
                    sa.select(table.c.run_id).where(bulk.among(table.c.run_id, rows))
                ).scalars()
            )
            counts[self.stream_name]["inserted"] += len(rows.keys() - stored)
            counts[self.stream_name]["unchanged"] += len(rows.keys() & stored)
        bulk.upsert(conn, table, list(rows.values()), update=False)

    def activate_version(self, new_version: int) -> None:
        """Runs are history: a version retires none of them."""
        _ = new_version
