"""Benchmark: an incremental tap-pipedrive sync of 1,000 changes in a large account.

    .venv/bin/python bench/tap_incremental.py               # 1,000,000-record account
    .venv/bin/python bench/tap_incremental.py --scale 100000

Runs a full sync, changes 1,000 records through the sandbox's control API (persons,
organizations, deals, activities, notes; 200 each), runs the tap again from the state, and
prints the requests and tokens each stream spent. Goal: a handful per stream, independent of
the account's size.
"""

from __future__ import annotations

import argparse
import time

from pipedrive_sandbox.testing import start_sandbox
from tap_common import run_tap

KINDS = {
    "persons": "name",
    "organizations": "name",
    "deals": "title",
    "activities": "subject",
    "notes": "content",
}


def main() -> None:
    """Full sync, 1,000 changes, incremental sync; print requests per endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1_000)
    args = parser.parse_args()
    with start_sandbox(seed=7, scale=args.scale, burst_limit=0, daily_budget=0) as sandbox:
        full = run_tap(sandbox)
        print(f"full sync: {full.total_records:,} records, {full.requests:,} requests")
        control = sandbox.control
        control.advance_clock(60)
        per_kind = args.changes // len(KINDS)
        started = time.perf_counter()
        for kind, field in KINDS.items():
            ids = [r["id"] for r in control.dataset(kind, include_deleted=False)][::97][:per_kind]
            for record_id in ids:
                control.update(kind, record_id, {field: f"changed {record_id}"})
        print(f"changed {per_kind * len(KINDS):,} records in {time.perf_counter() - started:.1f} s")
        incremental = run_tap(sandbox, state=full.final_state)
    print(
        f"incremental sync: {incremental.total_records:,} records in "
        f"{incremental.wall_seconds:.1f} s, {incremental.requests} requests, "
        f"{incremental.tokens} tokens"
    )
    for operation, requests in sorted(incremental.requests_by_operation.items()):
        print(f"  {operation:40s} {requests:4d} requests")
    for kind in KINDS:
        print(f"  {kind:14s} {incremental.records.get(kind, 0):6,d} records")


if __name__ == "__main__":
    main()
