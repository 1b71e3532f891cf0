"""Throughput and exactly-once of target-pipedrive against the sandbox's burst limit.

Creates one activity per ``audience_changes`` record (``--actions`` of them, default 10,000,
for persons that exist in the sandbox) with the sandbox limited to 40 requests per 2-second
window. The target runs as a child process (``python -m target_pipedrive``) on a PostgreSQL
ledger (``--engine duckdb``: a DuckDB file; TEST_PG_URL names the server);
``--kills`` times (default 3) it is killed with SIGKILL at a random moment and rerun on the same
input, then a last run completes. Prints actions/s (all runs together, process starts
included) and as a share of the limit's 20 requests/s, requests and tokens per action (sandbox
stats), duplicates and missing activities (one subject per record), and the target's CPU
seconds (all its runs) with the load average.

``--bytecode-cache`` lets the target's runs share compiled modules (in the run's temporary
directory), as an installed plugin has them: where the environment forbids writing bytecode
(``PYTHONDONTWRITEBYTECODE``) every run otherwise compiles singer-sdk, SQLAlchemy and the rest
from source when it starts, seconds of CPU per start that the kill-and-rerun cycles multiply.

    .venv/bin/python bench/writeback_throughput.py                  # 10,000 actions, 3 kills
    .venv/bin/python bench/writeback_throughput.py --actions 1000 --kills 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
from pipedrive_sandbox.testing import start_sandbox

BURST_LIMIT = 40
WINDOW_SECONDS = 2.0
PERSONS = 200  # sandbox scale; the records cycle over the persons it has


def _input(path: Path, actions: int, persons: list[int]) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "audience_changes",
        "key_properties": ["change_id"],
        "schema": {"type": "object", "properties": {"change_id": {}, "person": {}}},
    }
    with path.open("w") as out:
        out.write(json.dumps(schema) + "\n")
        for i in range(actions):
            record = {
                "change_id": f"bench-{i}:entered",
                "audience": "slipping_subscribers",
                "event": "entered",
                "person": {"first_name": f"P{i}", "pipedrive_person_id": persons[i % len(persons)]},
            }
            out.write(
                json.dumps({"type": "RECORD", "stream": "audience_changes", "record": record})
            )
            out.write("\n")
            if i % 500 == 499:
                out.write(json.dumps({"type": "STATE", "value": {"done": i + 1}}) + "\n")


@contextlib.contextmanager
def _pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database on TEST_PG_URL's server (dropped at the end)."""
    admin = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"writeback_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin.rpartition("/")[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    config: Path, data: Path, kill_after: float | None, env: dict[str, str]
) -> tuple[float, bool]:
    """Run the target once (killed after ``kill_after`` seconds); its wall time, whether killed."""
    started = time.monotonic()
    with data.open() as stdin, (data.parent / "target.log").open("a") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "target_pipedrive", "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        try:
            child.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
            return time.monotonic() - started, True
    if child.returncode != 0:
        sys.exit(f"target-pipedrive failed (exit {child.returncode})")
    return time.monotonic() - started, False


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=["postgresql", "duckdb"], default="postgresql")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--bytecode-cache", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    limit_per_second = BURST_LIMIT / WINDOW_SECONDS
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory() as tmp,
        start_sandbox(seed=5, scale=PERSONS, burst_limit=BURST_LIMIT, daily_budget=0) as sandbox,
    ):
        work = Path(tmp)
        database_url = (
            f"duckdb:///{work / 'cdp.duckdb'}"
            if args.engine == "duckdb"
            else stack.enter_context(_pg_database())
        )
        data = work / "input.jsonl"
        env = dict(os.environ)
        if args.bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        persons = [p["id"] for p in sandbox.control.dataset("persons", include_deleted=False)]
        _input(data, args.actions, persons)
        config = work / "config.json"
        action = {
            "name": "bench-call",
            "create": "activity",
            "fields": {
                "subject": "Bench {{ change_id }}",
                "type": "call",
                "person_id": "{{ person.pipedrive_person_id }}",
            },
        }
        settings = {
            "api_url": sandbox.base_url,
            "api_token": sandbox.api_token,
            "database_url": database_url,
            "actions": [action],
        }
        config.write_text(json.dumps(settings))
        before = {a["id"] for a in sandbox.control.dataset("activities")}
        sandbox.control.reset_stats()
        expected_seconds = args.actions / limit_per_second
        wall = 0.0
        cpu_before = _children_cpu()
        for cycle in range(args.kills):
            at = rng.uniform(0.1, 0.8) * expected_seconds / args.kills
            seconds, killed = _run(config, data, at, env)
            wall += seconds
            print(f"run {cycle + 1}: {'killed' if killed else 'finished'} after {seconds:.1f} s")
        seconds, _ = _run(config, data, None, env)
        wall += seconds
        print(f"last run: finished after {seconds:.1f} s")
        target_cpu = _children_cpu() - cpu_before
        stats = sandbox.control.stats()
        made = [a for a in sandbox.control.dataset("activities") if a["id"] not in before]
        print((work / "target.log").read_text()[-3000:]) if "--debug" in sys.argv else None
        subjects = Counter(a["subject"] for a in made)
    _report(args, wall, target_cpu, stats, subjects)


def _report(
    args: argparse.Namespace,
    wall: float,
    target_cpu: float,
    stats: dict,
    subjects: Counter[str],
) -> None:
    """Print the figures."""
    limit_per_second = BURST_LIMIT / WINDOW_SECONDS
    duplicates = sum(n - 1 for n in subjects.values())
    missing = args.actions - len(subjects)
    per_second = args.actions / wall
    cache = ", bytecode cache" if args.bytecode_cache else ""
    print(f"actions: {args.actions}, kill-and-rerun cycles: {args.kills}{cache}, {args.engine}")
    print(
        f"actions/s: {per_second:.1f} over {wall:.0f} s of runs = "
        f"{per_second / limit_per_second:.0%} of the {limit_per_second:.0f} requests/s limit"
    )
    print(
        f"requests/action: {stats['requests'] / args.actions:.3f} "
        f"({json.dumps({k: v['requests'] for k, v in stats['by_operation'].items()})}), "
        f"429s: {stats['by_status'].get('429', 0)}"
    )
    print(f"tokens/action: {stats['tokens_spent'] / args.actions:.2f}")
    print(f"duplicates: {duplicates}, missing: {missing}")
    print(
        f"target CPU: {target_cpu:.1f} s ({target_cpu / args.actions * 1000:.2f} ms/action), "
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
