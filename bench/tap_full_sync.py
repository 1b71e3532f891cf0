"""Benchmark: a full tap-pipedrive sync from the sandbox (no burst limit, no daily budget).

    .venv/bin/python bench/tap_full_sync.py                 # 10,000 and 1,000,000 records
    .venv/bin/python bench/tap_full_sync.py --scales 100000

Prints, per scale: records, wall time and records/s, the tap process's CPU time and records/s
per CPU core, HTTP requests and tokens per 1,000 records against the floor (one request per
500 records of each list), and the tap's peak RSS. The sandbox runs on the same machine, so
wall-clock throughput is bounded by it; records per CPU-second is the tap's own cost.
"""

from __future__ import annotations

import argparse
import math

from pipedrive_sandbox.testing import start_sandbox
from tap_common import TapMeasure, run_tap

PAGE = 500
LISTS = ("persons", "organizations", "deals", "activities", "notes")


def floor_requests(measure: TapMeasure) -> int:
    """Records of the lists / 500 (rounded up), plus one call per catalog and field endpoint."""
    lists = sum(
        1
        for operation in measure.requests_by_operation
        if operation.endswith("/archived") or any(operation.endswith(f"/{n}") for n in LISTS)
    )
    records = sum(measure.records.get(name, 0) for name in LISTS)
    others = len(measure.requests_by_operation) - lists
    return math.ceil(records / PAGE) + others


def report(scale: int, measure: TapMeasure) -> None:
    """Print one scale's figures."""
    records = measure.total_records
    floor = floor_requests(measure)
    wall_rate = records / measure.wall_seconds
    cpu_rate = records / measure.cpu_seconds
    print(f"\n== scale {scale:,}: {records:,} records")
    print(f"  wall        {measure.wall_seconds:8.1f} s   {wall_rate:10,.0f} records/s")
    print(f"  tap CPU     {measure.cpu_seconds:8.1f} s   {cpu_rate:10,.0f} records/s per core")
    print(
        f"  requests    {measure.requests:8,d}     floor {floor:,} "
        f"({100 * (measure.requests / floor - 1):+.2f}%), "
        f"{1000 * measure.requests / records:.2f} per 1,000 records"
    )
    tokens_rate = 1000 * measure.tokens / records
    print(f"  tokens      {measure.tokens:8,d}     {tokens_rate:.1f} per 1,000 records")
    print(f"  peak RSS    {measure.peak_rss_mib:8.1f} MiB")


def main() -> None:
    """Run the requested scales."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args()
    rss = {}
    for scale in args.scales:
        with start_sandbox(seed=7, scale=scale, burst_limit=0, daily_budget=0) as sandbox:
            measure = run_tap(sandbox)
        report(scale, measure)
        rss[scale] = measure.peak_rss_mib
    if len(rss) > 1:
        low, high = min(rss), max(rss)
        print(f"\npeak RSS {high:,} vs {low:,} records: {100 * (rss[high] / rss[low] - 1):+.1f}%")


if __name__ == "__main__":
    main()
