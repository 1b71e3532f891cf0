"""The tap's ``api_usage`` stream: one row per tap run in ``api_usage``, on both engines."""

from __future__ import annotations

import datetime as dt
import json

from tap_pipedrive.streams import ApiUsageStream
from target_messages import record

SCHEMA = {
    "type": "SCHEMA",
    "stream": "api_usage",
    "schema": ApiUsageStream.schema,
    "key_properties": list(ApiUsageStream.primary_keys),
}


def usage(run_id: str, tokens: int, **fields: object) -> dict:
    """An api_usage record as tap-pipedrive sends it."""
    return {
        "run_id": run_id,
        "started_at": "2026-03-01T10:00:00Z",
        "finished_at": "2026-03-01T10:02:30Z",
        "requests": tokens // 10,
        "tokens": tokens,
        "token_budget": None,
        "outcome": "complete",
        "streams": [{"stream": "persons", "requests": tokens // 10, "tokens": tokens}],
        **fields,
    }


def test_each_run_is_stored_once_and_a_bad_record_is_rejected(cdp):
    messages = [
        SCHEMA,
        record("api_usage", usage("run-a", 120)),
        record("api_usage", usage("run-b", 40, outcome="budget_spent", token_budget=40)),
        record("api_usage", {**usage("run-c", 10), "tokens": "ten"}),
        record("api_usage", usage("run-d", 10, started_at="0001-01-01T00:00:00+05:00")),
    ]
    cdp.run(messages)
    rows = {row["run_id"]: row for row in cdp.rows("api_usage")}
    assert set(rows) == {"run-a", "run-b"}
    a, b = rows["run-a"], rows["run-b"]
    assert (a["tokens"], a["requests"], a["outcome"], a["token_budget"]) == (
        120,
        12,
        "complete",
        None,
    )
    assert (b["tokens"], b["outcome"], b["token_budget"]) == (40, "budget_spent", 40)
    assert a["started_at"] == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert a["finished_at"] == dt.datetime(2026, 3, 1, 10, 2, 30, tzinfo=dt.UTC)
    streams = a["streams"] if isinstance(a["streams"], list) else json.loads(a["streams"])
    assert streams == [{"stream": "persons", "requests": 12, "tokens": 120}]
    (run,) = cdp.rows("sync_runs")
    assert a["sync_run_id"] == b["sync_run_id"] == run["run_id"]
    counts = run["counts"] if isinstance(run["counts"], dict) else json.loads(run["counts"])
    assert (counts["api_usage"]["inserted"], counts["api_usage"]["rejected"]) == (2, 2)
    reasons = {row["record_key"]: row["reason"] for row in cdp.rows("rejected_records")}
    assert (
        reasons["run-c"] == "does not match the stream schema: data.tokens must be integer or null"
    )
    assert reasons["run-d"] == (
        "started_at is out of range once in UTC (years 1 to 9999): '0001-01-01T00:00:00+05:00'"
    )

    cdp.run(messages)  # a replay changes nothing
    assert {row["run_id"]: row for row in cdp.rows("api_usage")} == rows
