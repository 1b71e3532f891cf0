"""Benchmark of the main job: `meltano run tap-pipedrive target-cdp dbt:build` (dev, DuckDB).

For each account size (default 10,000 and 100,000 Pipedrive records) against a seeded sandbox:
the full run, then 1% of the records changed through the sandbox's control API, then the
incremental run. Prints wall time, the peak RSS of the whole process tree (Meltano, tap,
target, dbt) and of its largest process, and the API requests and tokens each run spent.

    .venv/bin/python bench/main_job.py [--sizes 10000 100000] [--burst-limit 40]

The burst limit defaults to Pipedrive's Growth plan (40 requests per 2 s), so wall times are
what a real account of that size would see; `--burst-limit 0` measures the software alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
JOB = ["run", "tap-pipedrive", "target-cdp", "dbt:build"]
CHANGE_FIELDS = {
    "persons": ("name", "Renamed {id}"),
    "organizations": ("name", "Renamed org {id}"),
    "deals": ("title", "Renamed deal {id}"),
    "activities": ("subject", "Rescheduled {id}"),
    "notes": ("content", "<p>Edited {id}</p>"),
}


@dataclass
class Measure:
    """One run of the job."""

    seconds: float
    tree_peak_mb: float
    process_peak_mb: float
    requests: int
    tokens: int


def run_job(env: dict[str, str], sandbox: RunningSandbox) -> Measure:
    """Run the main job, polling the RSS of its process tree."""
    sandbox.control.reset_stats()
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [str(BIN / "meltano"), "--environment", "dev", *JOB],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        tree_peak = process_peak = 0
        root = psutil.Process(process.pid)
        while process.poll() is None:
            sizes = []
            for proc in [root, *root.children(recursive=True)]:
                try:
                    sizes.append(proc.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue
            tree_peak = max(tree_peak, sum(sizes))
            process_peak = max(process_peak, *sizes, 0)
            time.sleep(0.1)
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"the job failed:\n{log.read()[-5000:]}")
    seconds = time.monotonic() - started
    stats = sandbox.control.stats()
    return Measure(
        seconds, tree_peak / 2**20, process_peak / 2**20, stats["requests"], stats["tokens_spent"]
    )


def change_one_percent(sandbox: RunningSandbox) -> int:
    """Change 1% of the records, spread over every kind; return how many changed."""
    control = sandbox.control
    counts = control.info()["counts"]
    changed = 0
    for kind, total in counts.items():
        field, template = CHANGE_FIELDS[kind]
        wanted = max(1, total // 100)
        step = max(1, total // wanted)
        for record_id in range(1, total + 1, step)[:wanted]:
            control.update(kind, record_id, {field: template.format(id=record_id)})
            changed += 1
    return changed


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--burst-limit", type=int, default=40)
    args = parser.parse_args()

    print(
        f"{'records':>9} {'run':<12} {'wall s':>8} {'tree peak MB':>13} {'max proc MB':>12}"
        f" {'requests':>9} {'tokens':>7}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as work:
            with start_sandbox(seed=3, scale=size, burst_limit=args.burst_limit) as sandbox:
                warehouse = Path(work) / "warehouse.duckdb"
                env = {
                    **os.environ,
                    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                    "MELTANO_DATABASE_URI": f"sqlite:///{work}/meltano.db",
                    "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
                    "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
                    "TARGET_CDP_DATABASE_URL": f"duckdb:///{warehouse}",
                    "CDP_DUCKDB_PATH": str(warehouse),
                    "DBT_TARGET_PATH": f"{work}/dbt-target",
                    "DBT_LOG_PATH": f"{work}/dbt-logs",
                }
                full = run_job(env, sandbox)
                changed = change_one_percent(sandbox)
                incremental = run_job(env, sandbox)
            for name, m in (("full", full), (f"incr {changed}", incremental)):
                print(
                    f"{size:>9} {name:<12} {m.seconds:>8.1f} {m.tree_peak_mb:>13.0f}"
                    f" {m.process_peak_mb:>12.0f} {m.requests:>9} {m.tokens:>7}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
