"""Throughput of pipedrive-sandbox: read every list endpoint with a plain requests.Session.

    python bench/sandbox_throughput.py [--scale 1000000] [--limit 500]

Starts a sandbox (no burst limit, unlimited budget), reads /api/v2/persons, organizations,
deals (all statuses), deals/archived, activities and /api/v1/notes page by page with
``limit=500``, and prints records/s, requests, the server's startup time and its peak RSS.

The machine is often shared, so besides the wall-clock rate it prints the CPU seconds the
server and the client used: ``records / max(server CPU, client CPU)`` is the rate two idle
cores would reach (server and client each on one core).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil
import requests
from pipedrive_sandbox.testing import start_sandbox

V2_LISTS = (
    ("persons", {}),
    ("organizations", {}),
    ("deals", {"status": "open,won,lost,deleted"}),
    ("deals/archived", {}),
    ("activities", {}),
)


def read_v2(session: requests.Session, url: str, params: dict[str, str | int]) -> tuple[int, int]:
    """Follow next_cursor to the end; returns (records, requests)."""
    records = requests_made = 0
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = session.get(url, params=query, timeout=60)
        response.raise_for_status()
        body = response.json()
        records += len(body["data"])
        requests_made += 1
        cursor = body["additional_data"]["next_cursor"]
        if not cursor:
            return records, requests_made


def read_v1(session: requests.Session, url: str, limit: int) -> tuple[int, int]:
    """Follow v1 offset pagination to the end; returns (records, requests)."""
    records = requests_made = start = 0
    while True:
        response = session.get(url, params={"start": start, "limit": limit}, timeout=60)
        response.raise_for_status()
        body = response.json()
        records += len(body["data"])
        requests_made += 1
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            return records, requests_made
        start = pagination["next_start"]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with start_sandbox(seed=args.seed, scale=args.scale, burst_limit=0, daily_budget=0) as sandbox:
        server = psutil.Process(sandbox.process.pid)
        info = sandbox.control.info()
        session = requests.Session()
        session.headers["x-api-token"] = sandbox.api_token
        total_records = total_requests = 0
        server_cpu_before = sum(server.cpu_times()[:2])
        client_cpu_before = time.process_time()
        began = time.perf_counter()
        for path, params in V2_LISTS:
            t0 = time.perf_counter()
            records, made = read_v2(
                session, f"{sandbox.base_url}/api/v2/{path}", {**params, "limit": args.limit}
            )
            seconds = time.perf_counter() - t0
            print(
                f"  {path:<16} {records:>9,} records {made:>6,} requests "
                f"{records / seconds:>10,.0f} records/s"
            )
            total_records += records
            total_requests += made
        t0 = time.perf_counter()
        records, made = read_v1(session, f"{sandbox.base_url}/api/v1/notes", args.limit)
        seconds = time.perf_counter() - t0
        print(
            f"  {'notes (v1)':<16} {records:>9,} records {made:>6,} requests "
            f"{records / seconds:>10,.0f} records/s"
        )
        total_records += records
        total_requests += made
        elapsed = time.perf_counter() - began
        server_cpu = sum(server.cpu_times()[:2]) - server_cpu_before
        client_cpu = time.process_time() - client_cpu_before
        memory = server.memory_info()
        peak = getattr(memory, "peak_wset", None) or _peak_rss_kib(server.pid) * 1024
        stats = sandbox.control.stats()
    print(
        f"scale {args.scale:,}: {total_records:,} records in {total_requests:,} requests, "
        f"{elapsed:.1f} s -> {total_records / elapsed:,.0f} records/s"
    )
    print(
        f"CPU: server {server_cpu:.1f} s, client {client_cpu:.1f} s -> "
        f"{total_records / max(server_cpu, client_cpu):,.0f} records/s on two idle cores"
    )
    print(
        f"server startup {info['startup_seconds']:.2f} s (process ready after "
        f"{sandbox.startup_seconds:.2f} s); server peak RSS {peak / 2**20:,.0f} MiB; "
        f"tokens spent {stats['tokens_spent']:,}"
    )


def _peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set) of a Linux process, KiB."""
    with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
