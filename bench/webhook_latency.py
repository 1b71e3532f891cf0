"""Latency of the live sync, from a change in Pipedrive to the row in the CDP, through Meltano.

For each engine (DuckDB file; PostgreSQL with ``--pg-url``): a seeded sandbox, one polling
sync (``meltano run tap-pipedrive target-cdp``), a real receiver (``pipedrive-webhooks serve``,
registered with its own ``register``) whose trigger runs
``meltano run tap-pipedrive-live target-cdp``; then

* single changes: one person renamed at a time (the next once the previous is in the CDP and
  the run is over), latency = the change's request -> the new name read back from the CDP;
* a burst: 1,000 persons renamed at once (one bulk edit: 1,000 webhooks), latency per change;
* the API cost of applying the burst, from the sandbox's stats (requests and tokens by
  operation: the goal is no list request and field definitions at most once).

A change is in the CDP when the apply run that read its event has finished successfully (the
target commits before the run exits): latency = the change's request -> that run's end, as the
receiver recorded it in the spool. The bench reads the spool, never the CDP, while runs go (a
reader would hold the DuckDB file the target must lock), and checks the CDP's rows at the end.
It prints p50/p95/max, the apply runs' durations (Meltano's start-up and the run) and the
debounce quiet period, which together bound the latency.

    .venv/bin/python bench/webhook_latency.py
    .venv/bin/python bench/webhook_latency.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from pipedrive_webhooks.spool import Spool

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
USER, PASSWORD = "bench", "bench-latency-password-0123"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(values: list[float]) -> str:
    """p50 / p95 / max in seconds."""
    if not values:
        return "none measured"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, max {ordered[-1]:.1f} s"


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards (SQLAlchemy URL)."""
    name = f"bench_latency_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Scenario:
    """One engine: the Meltano environment, the receiver and the CDP reader."""

    def __init__(
        self,
        work: Path,
        sandbox: RunningSandbox,
        cdp_url: str,
        quiet: float,
        *,
        bytecode_cache: bool = False,
    ) -> None:
        self.work, self.sandbox, self.cdp_url, self.quiet = work, sandbox, cdp_url, quiet
        self.spool_path = work / "webhook-spool.sqlite"
        self.environment = "dev" if cdp_url.startswith("duckdb") else "prod"
        self.port = free_port()
        meltano_db = f"sqlite:///{work / 'meltano.db'}"
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": meltano_db,
            "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
            "PIPEDRIVE_API_URL": sandbox.base_url,
            "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
            "TARGET_CDP_DATABASE_URL": cdp_url,
            "CDP_DATABASE_URL": cdp_url,
            "TAP_PIPEDRIVE_LIVE_WEBHOOK_SPOOL": str(self.spool_path),
            "TAP_PIPEDRIVE_LIVE_FIELD_CACHE_PATH": str(work / "fields.json"),
        }
        settings = {
            "spool_url": str(self.spool_path),
            "auth_user": USER,
            "auth_password": PASSWORD,
            "port": str(self.port),
            "public_url": f"http://127.0.0.1:{self.port}/pipedrive",
            "api_url": sandbox.base_url,
            "api_token": sandbox.api_token,
            "objects": "person",
            "apply_command": (
                f"{BIN / 'meltano'} --environment {self.environment} "
                "run tap-pipedrive-live target-cdp"
            ),
            "apply_quiet_seconds": str(quiet),
            "meltano_database_uri": meltano_db,
        }
        self.env |= {f"PIPEDRIVE_WEBHOOKS_{k.upper()}": v for k, v in settings.items()}
        if bytecode_cache:  # as an installed deployment runs (see bench/main_job.py)
            self.env.pop("PYTHONDONTWRITEBYTECODE", None)
            self.env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        self.engine = sa.create_engine(cdp_url)
        self.receiver: subprocess.Popen[bytes] | None = None

    def meltano(self, *args: str) -> None:
        command = [str(BIN / "meltano"), "--environment", self.environment, *args]
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, check=False)
        if done.returncode:
            raise SystemExit(f"meltano {' '.join(args)} failed:\n{done.stderr.decode()[-3000:]}")

    def start_receiver(self) -> None:
        log = (self.work / "receiver.log").open("wb")
        self.receiver = subprocess.Popen(
            [str(BIN / "pipedrive-webhooks"), "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self._listening(), 120, "the receiver")
        done = subprocess.run(
            [str(BIN / "pipedrive-webhooks"), "register"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"register failed: {done.stdout.decode()}{done.stderr.decode()}")

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.terminate()
            self.receiver.wait(timeout=120)
        self.engine.dispose()

    def first_names(self, ids: list[int]) -> dict[int, str | None]:
        """First names of these Pipedrive persons in the CDP (read when no run is going)."""
        query = sa.text(
            "select pipedrive_person_id, first_name from cdp.people"
            " where pipedrive_person_id in :ids"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            names = dict(conn.execute(query, {"ids": ids}).all())
        self.engine.dispose()
        return names

    def spool(self) -> Spool:
        return Spool(str(self.spool_path))

    def idle(self) -> bool:
        """The receiver has applied everything it spooled and no run is going."""
        spool = self.spool()
        try:
            status = spool.status()
            run = status.last_run
            return (
                status.events > 0
                and status.backlog == 0
                and run is not None
                and (run.finished_at is not None)
            )
        finally:
            spool.close()

    def applied_at(self, after: int) -> dict[str, dt.datetime]:
        """For each person event spooled after position ``after``: the end of the successful
        run that applied it."""
        spool = self.spool()
        try:
            events = spool.read_after(after, limit=1_000_000)
            runs = sorted(
                (r for r in spool.recent_runs(10_000) if r.exit_code == 0 and r.applied_through),
                key=lambda r: r.applied_through,
            )
        finally:
            spool.close()
        done: dict[str, dt.datetime] = {}
        for event in events:
            run = next((r for r in runs if r.applied_through >= event.seq), None)
            if run is not None and run.finished_at is not None:
                name = (event.payload.get("data") or {}).get("first_name")
                done[f"{event.entity_id}:{name}"] = run.finished_at
        return done

    def position(self) -> int:
        spool = self.spool()
        try:
            return spool.status().position
        finally:
            spool.close()

    def runs(self) -> list[Any]:
        spool = self.spool()
        try:
            return spool.recent_runs(10_000)
        finally:
            spool.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def single_changes(scenario: Scenario, ids: list[int]) -> list[float]:
    control, latencies = scenario.sandbox.control, []
    for n, pid in enumerate(ids):
        name = f"Single{n}x{uuid.uuid4().hex[:6]}"
        after = scenario.position()
        started = dt.datetime.now(dt.UTC)
        control.update("persons", pid, {"first_name": name})
        key = f"{pid}:{name}"
        done = wait_for(
            lambda after=after, key=key: scenario.applied_at(after).get(key), 600, "a change"
        )
        latencies.append((done - started).total_seconds())
        wait_for(scenario.idle, 600, "the apply run to end")
    return latencies


def burst(scenario: Scenario, ids: list[int]) -> tuple[list[float], dict[str, Any]]:
    control = scenario.sandbox.control
    name = f"Burst{uuid.uuid4().hex[:6]}"
    after = scenario.position()
    control.reset_stats()
    started: dict[str, dt.datetime] = {}
    for chunk in range(0, len(ids), 250):
        part = ids[chunk : chunk + 250]
        now = dt.datetime.now(dt.UTC)
        control.bulk_update("persons", part, {"first_name": name})
        started |= {f"{pid}:{name}": now for pid in part}
    control.wait_for_webhooks(timeout=1800)
    wait_for(
        lambda: len(scenario.applied_at(after).keys() & started.keys()) == len(ids),
        1800,
        "the burst",
    )
    wait_for(scenario.idle, 600, "the apply runs to end")
    done = scenario.applied_at(after)
    stats = control.stats()
    names = scenario.first_names(ids)
    wrong = [pid for pid in ids if names.get(pid) != name]
    if wrong:
        raise SystemExit(f"{len(wrong)} burst changes are not in the CDP, e.g. person {wrong[0]}")
    return [(done[key] - started[key]).total_seconds() for key in started], stats


def report_engine(label: str, scenario: Scenario, singles: int, burst_size: int) -> None:
    control = scenario.sandbox.control
    persons = [p["id"] for p in control.dataset("persons", include_deleted=False)]
    if len(persons) < burst_size + singles:
        raise SystemExit(f"the sandbox has {len(persons)} persons; raise --scale")
    t0 = time.monotonic()
    scenario.meltano("run", "tap-pipedrive", "target-cdp")
    print(f"[{label}] polling sync (the CDP the changes apply to): {time.monotonic() - t0:.0f} s")
    scenario.start_receiver()
    single = single_changes(scenario, persons[-singles:])
    single_runs = scenario.runs()
    print(f"[{label}] single changes ({len(single)}): {percentiles(single)}")
    durations = [
        (r.finished_at - r.started_at).total_seconds() for r in single_runs if r.finished_at
    ]
    print(
        f"[{label}]   bound: quiet period {scenario.quiet:.1f} s + one apply run "
        f"(Meltano start-up, tap, target): {percentiles(durations)} per run"
    )
    if not burst_size:
        return
    burst_latencies, stats = burst(scenario, persons[:burst_size])
    runs = [r for r in scenario.runs() if r.run_id not in {s.run_id for s in single_runs}]
    print(
        f"[{label}] burst of {burst_size} changes: {percentiles(burst_latencies)}; "
        f"{len(runs)} apply run(s): "
        + ", ".join(
            f"#{r.run_id} {(r.finished_at - r.started_at).total_seconds():.0f} s"
            for r in sorted(runs, key=lambda r: r.run_id)
            if r.finished_at
        )
    )
    operations = stats["by_operation"]
    lists = {
        op: f["requests"] for op, f in operations.items() if op.startswith("GET /api/v2/persons")
    }
    fields = {op: f["requests"] for op, f in operations.items() if "Fields" in op}
    print(
        f"[{label}] API cost of applying the burst: {stats['requests']} requests, "
        f"{stats['tokens_spent']} tokens; list requests: {sum(lists.values())}; "
        f"field definitions: {fields or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pg-url", help="PostgreSQL server (admin URL); default: DuckDB only")
    parser.add_argument("--singles", type=int, default=5)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--scale", type=int, default=8000)
    parser.add_argument("--quiet", type=float, default=1.0, help="apply_quiet_seconds")
    parser.add_argument(
        "--bytecode-cache",
        action="store_true",
        help="a bytecode cache of the bench's own (PYTHONDONTWRITEBYTECODE=1 compiles every start)",
    )
    args = parser.parse_args()
    engines = ["duckdb"] + (["postgresql"] if args.pg_url else [])
    print(
        f"webhook latency: {args.singles} single changes, a burst of {args.burst}, "
        f"sandbox scale {args.scale}, quiet period {args.quiet} s, engines {', '.join(engines)}; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; bytecode cache: "
        f"{'own' if args.bytecode_cache else 'as the environment says'}"
    )
    for engine in engines:
        with (
            tempfile.TemporaryDirectory(prefix="webhook-latency-") as tmp,
            start_sandbox(seed=3, scale=args.scale, burst_limit=0, daily_budget=0) as sandbox,
            contextlib.ExitStack() as stack,
        ):
            work = Path(tmp)
            url = (
                f"duckdb:///{work / 'warehouse.duckdb'}"
                if engine == "duckdb"
                else stack.enter_context(postgres_database(args.pg_url))
            )
            scenario = Scenario(work, sandbox, url, args.quiet, bytecode_cache=args.bytecode_cache)
            try:
                report_engine(engine, scenario, args.singles, args.burst)
            finally:
                scenario.stop()


if __name__ == "__main__":
    main()
