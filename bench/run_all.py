"""Run every benchmark with its default sizes, one after another (`make bench`).

Each benchmark prints its own figures; this only runs them in order and stops at the first
failure. The full set takes a while (1,000,000-record loads): pass benchmark names to run some.

    .venv/bin/python bench/run_all.py                       # all of them
    .venv/bin/python bench/run_all.py tap_full_sync main_job
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BENCHMARKS = (
    "sandbox_throughput",
    "tap_full_sync",
    "tap_incremental",
    "target_throughput",
    "main_job",
    "webhook_receiver",
    "webhook_latency",
    "writeback_throughput",
    "tap_cdp_changes",
)


def main() -> None:
    """Run the named benchmarks (default: all)."""
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        result = subprocess.run([sys.executable, str(BENCH / f"{name}.py")], check=False)
        if result.returncode != 0:
            sys.exit(f"bench/{name}.py failed (exit {result.returncode})")


if __name__ == "__main__":
    main()
