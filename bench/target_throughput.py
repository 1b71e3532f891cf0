"""Throughput and memory of target-cdp (DuckDB, PostgreSQL) vs MeltanoLabs target-postgres.

Generates N deterministic Pipedrive-shaped records (``target_singer_input.py``), pipes the same
Singer file through each target as a child process (first a singer-sdk target that discards
every record, ``null_target.py``: the floor any singer-sdk target pays), and prints records/s,
the CPU seconds (user + system, steadier than wall time on a shared machine), the PostgreSQL
server's CPU seconds during the load, the peak RSS of the child's process tree and the load
average around the load (other work on the machine slows the wall time, hardly the CPU
seconds). Every load goes into a fresh DuckDB file or a fresh PostgreSQL
database. target-postgres lives in its own virtualenv (its pins conflict with ours); it is
created on first use. ``--baseline DIR`` also loads with the target-cdp source tree in DIR (an
earlier commit: ``git archive <commit> target-cdp | tar -x -C DIR``), for before/after figures
from one run.

    .venv/bin/python bench/target_throughput.py                     # 1,000,000 records
    .venv/bin/python bench/target_throughput.py --records 100000 --records 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from target_singer_input import write

ROOT = Path(__file__).resolve().parent.parent
TARGET_POSTGRES = "meltanolabs-target-postgres==0.8.1"


@dataclass
class Result:
    """One load."""

    target: str
    records: int
    seconds: float
    cpu_seconds: float
    #: CPU seconds of the PostgreSQL server's processes during the load (0 for DuckDB, which
    #: runs inside the target process and is counted in ``cpu_seconds``).
    server_cpu_seconds: float
    peak_rss_mb: float
    #: One-minute load average before and after the load.
    load: tuple[float, float]

    @property
    def per_second(self) -> float:
        """Records per second."""
        return self.records / self.seconds


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and its children, in bytes."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def server_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server's processes on this machine.

    A backend that exited (the load's, once it disconnected) is counted in the postmaster's
    children times. Every PostgreSQL process on the machine counts: run the bench with no other
    database work going.
    """
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if process.info["name"] in {"postgres", "postmaster"} and times:
            total += times.user + times.system + times.children_user + times.children_system
    return total


def load(
    name: str,
    command: list[str],
    config: dict,
    singer_file: Path,
    records: int,
    workdir: Path,
    env: dict[str, str] | None = None,
) -> Result:
    """Run one target on the Singer file; measure wall time and peak RSS."""
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps(config))
    log_path = workdir / f"{name}-{records}.log"
    load_before = os.getloadavg()[0]
    with singer_file.open("rb") as stdin, log_path.open("wb") as log:
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = server_cpu()
        started = time.perf_counter()
        child = subprocess.Popen(
            [*command, "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=None if env is None else os.environ | env,
        )
        process = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            peak = max(peak, tree_rss(process))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_seconds = server_cpu() - server_before
    cpu_seconds = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    if child.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-5:]
        raise SystemExit(
            f"{name} failed (exit {child.returncode}); see {log_path}:\n" + "\n".join(tail)
        )
    load_after = os.getloadavg()[0]
    return Result(
        name,
        records,
        seconds,
        cpu_seconds,
        server_seconds,
        peak / 2**20,
        (load_before, load_after),
    )


def fresh_database(admin_url: str) -> tuple[str, str]:
    """Create an empty PostgreSQL database; return (name, libpq URL)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"{admin_url.rpartition('/')[0]}/{name}"


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database made by ``fresh_database``."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def target_postgres(workdir: Path) -> Path:
    """The target-postgres executable, installed into its own virtualenv if missing."""
    venv = workdir / "target-postgres-venv"
    executable = venv / "bin" / "target-postgres"
    if not executable.exists():
        uv = ROOT / ".venv" / "bin" / "uv"
        subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        subprocess.run(
            [
                str(uv),
                "pip",
                "install",
                "-q",
                "--python",
                str(venv / "bin" / "python"),
                TARGET_POSTGRES,
            ],
            check=True,
        )
    return executable


def run(
    records: int, workdir: Path, admin_url: str, *, reference: bool, baseline: Path | None
) -> list[Result]:
    """All loads of one input size."""
    singer_file = write(workdir / f"pipedrive-{records}.singer", records)
    cdp = [sys.executable, "-m", "target_cdp"]
    builds: list[tuple[str, dict[str, str] | None]] = [("target-cdp", None)]
    if baseline is not None:
        builds.append(("baseline", {"PYTHONPATH": str(baseline / "target-cdp")}))
    null = [sys.executable, str(Path(__file__).parent / "null_target.py")]
    results = [
        load("singer-sdk floor", null, {"validate_records": False}, singer_file, records, workdir)
    ]
    duckdb_file = workdir / f"cdp-{records}.duckdb"
    for label, env in builds:
        duckdb_file.unlink(missing_ok=True)
        config = {"database_url": f"duckdb:///{duckdb_file}"}
        results.append(load(f"{label} duckdb", cdp, config, singer_file, records, workdir, env))
        duckdb_file.unlink(missing_ok=True)
    loads = [
        (
            f"{label} postgresql",
            cdp,
            lambda url: {"database_url": url.replace("postgresql://", "postgresql+psycopg://")},
            env,
        )
        for label, env in builds
    ]
    if reference:
        tp = [str(target_postgres(workdir))]
        loads.append(
            (
                "target-postgres",
                tp,
                lambda url: {
                    "sqlalchemy_url": url.replace("postgresql://", "postgresql+psycopg://"),
                    "default_target_schema": "tap_pipedrive",
                },
                None,
            )
        )
    for name, command, make_config, env in loads:
        database, url = fresh_database(admin_url)
        try:
            config = make_config(url)
            results.append(load(name, command, config, singer_file, records, workdir, env))
        finally:
            drop_database(admin_url, database)
    return results


def main() -> None:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, action="append", help="input size (repeatable); default 1,000,000"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/target-cdp-bench"))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip MeltanoLabs target-postgres"
    )
    parser.add_argument(
        "--baseline", type=Path, help="also load with the target-cdp source tree in this directory"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for records in args.records or [1_000_000]:
        for result in run(
            records,
            args.workdir,
            args.pg_url,
            reference=not args.no_reference,
            baseline=args.baseline,
        ):
            results.append(result)
            print(
                f"{result.target:24} {result.records:>9,} records  {result.seconds:8.1f} s  "
                f"{result.per_second:8,.0f} records/s  CPU {result.cpu_seconds:7.1f} s  "
                f"server CPU {result.server_cpu_seconds:6.1f} s  "
                f"peak RSS {result.peak_rss_mb:7.1f} MiB  "
                f"load {result.load[0]:.1f}-{result.load[1]:.1f}",
                flush=True,
            )
    for records in args.records or [1_000_000]:
        rates = {r.target: r.per_second for r in results if r.records == records}
        if "target-postgres" in rates:
            for name in ("target-cdp postgresql", "target-cdp duckdb"):
                print(
                    f"{records:,} records: {name} / target-postgres = "
                    f"{rates[name] / rates['target-postgres']:.2f}x"
                )
    out = ROOT / "bench" / "results" / "target_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps([r.__dict__ | {"records_per_second": r.per_second} for r in results], indent=2)
    )


if __name__ == "__main__":
    main()
