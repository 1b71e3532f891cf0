"""tap-cdp's audience_changes on a hand-filled DuckDB CDP: records per second of a first run
(every entry) and the cost of a run with nothing new, and the size of the state it keeps.

    .venv/bin/python bench/tap_cdp_changes.py            # 50,000 people entering one audience
    .venv/bin/python bench/tap_cdp_changes.py 200000

The CDP is target-cdp's own tables (its migration) with ``people``, and dbt's two relations the
stream reads (``audience_membership`` and the audience model) filled in SQL: one build's worth
of entries sharing one ``as_of``, the case where the bookmark keeps every id.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from tap_cdp.tap import TapCDP
from target_cdp.database import Database
from target_cdp.settings import Settings


def fill(path: Path, people: int) -> None:
    database = Database(Settings.from_config({"database_url": f"duckdb:///{path}"}))
    database.migrate()
    database.dispose()
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "insert into cdp.people (person_id, email, first_name, last_name, source, attributes,"
            " is_deleted, email_permission)"
            " select 'p' || i, 'p' || i || '@example.org', 'First' || i, 'Last', 'form', '{}',"
            " false, true from range(?) t(i)",
            [people],
        )
        conn.execute("create schema audiences")
        conn.execute(
            "create table audiences.slipping_subscribers as select person_id, email,"
            " timestamptz '2026-01-20 00:00:00+00' as last_engaged_at from cdp.people"
        )
        conn.execute(
            "create table audiences.audience_membership as select"
            " 'slipping_subscribers:' || person_id || ':1' as membership_id,"
            " 'slipping_subscribers' as audience, 'person' as member_kind,"
            " person_id as member_id, 1 as stint_number,"
            " timestamptz '2026-03-01 00:00:00+00' as entered_at,"
            " cast(null as timestamptz) as exited_at from cdp.people"
        )


def run(config: dict, state: dict | None) -> tuple[float, int, dict]:
    catalog = TapCDP(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "audience_changes"
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    started = time.perf_counter()
    with contextlib.redirect_stdout(buffer):
        TapCDP(config=config, state=state, catalog=catalog).sync_all()
        buffer.flush()
    seconds = time.perf_counter() - started
    buffer.seek(0)
    messages = [json.loads(line) for line in buffer.read().splitlines()]
    records = sum(m["type"] == "RECORD" for m in messages)
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return seconds, records, states[-1] if states else {}


def main() -> None:
    people = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        fill(path, people)
        config = {"database_url": f"duckdb:///{path}"}
        seconds, records, state = run(config, None)
        print(
            f"first run: {records} changes in {seconds:.1f} s = {records / seconds:,.0f} records/s"
        )
        print(
            f"state kept: {len(json.dumps(state)) / 1024:,.0f} KiB for {records} ids at one as_of"
        )
        seconds, records, _ = run(config, state)
        print(f"next run, nothing new: {records} changes in {seconds:.1f} s")


if __name__ == "__main__":
    main()
