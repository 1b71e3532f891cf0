"""Benchmark of cdp-view: time per page with 1,000,000 people and 5,000,000 activities.

For each engine (DuckDB file, PostgreSQL), fills a CDP schema made by target-cdp's own
migration with generated rows (people, organizations, deals, activities, runs, rejected
records, identity conflicts, audience stints and builds), serves cdp-view over it (a copy of
meltano.yml in a temporary project), and times each page: every tab, a person, an audience, the
audience search and the tenth page of the activity feed. Prints p50/p95 per page over
``--repeat`` requests (after one warm-up request) and the server's peak RSS.

    .venv/bin/python bench/view_pages.py [--people 1000000] [--activities 5000000]
        [--engines duckdb postgresql] [--repeat 20]

PostgreSQL: ``TEST_PG_URL`` names the server (default postgresql://postgres@127.0.0.1:5432/test);
a database is created and dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import sqlalchemy as sa
from target_cdp.tables import build_tables, migrate

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
TYPES = (
    "pipedrive.person.updated",
    "pipedrive.deal.updated",
    "pipedrive.note.added",
    "pipedrive.activity.created",
    "pipedrive.deal.stage_changed",
)


def fill_sql(dialect: str, people: int, activities: int) -> list[str]:
    """Statements generating the rows, in the engine's SQL (generate_series on both)."""
    if dialect == "duckdb":
        ago = "(TIMESTAMPTZ '2026-06-01 00:00:00+00' - to_seconds({n}))"
    else:
        ago = "(TIMESTAMPTZ '2026-06-01 00:00:00+00' - ({n}) * interval '1 second')"
    orgs, deals = people // 20, people // 5
    types = "(ARRAY[" + ", ".join(f"'{t}'" for t in TYPES) + "])"
    return [
        f"""INSERT INTO cdp.people (person_id, email, first_name, last_name, email_permission,
        sms_permission, pipedrive_person_id, attributes, source, created_at, updated_at,
        is_deleted) SELECT 'person-' || i, 'user' || i || '@mail' || (i % 97) || '.io',
        'First' || i, 'Last' || (i % 5000), i % 3 <> 0, i % 7 = 0, i,
        '{{"marketing_status": "subscribed"}}', 'pipedrive', {ago.format(n="i * 60")},
        {ago.format(n="i * 30")}, false FROM generate_series(1, {people}) AS g(i)""",
        f"""INSERT INTO cdp.organizations (organization_id, name, pipedrive_org_id, source,
        is_deleted) SELECT 'org-' || i, 'Org ' || i, i, 'pipedrive', false
        FROM generate_series(1, {orgs}) AS g(i)""",
        f"""INSERT INTO cdp.deals (deal_id, pipedrive_deal_id, person_id, title, status, value,
        is_deleted) SELECT 'deal-' || i, i, 'person-' || (i * 5), 'Deal ' || i,
        CASE WHEN i % 4 = 0 THEN 'won' ELSE 'open' END, i % 10000, false
        FROM generate_series(1, {deals}) AS g(i)""",
        f"""INSERT INTO cdp.activities (activity_key, activity_type, person_id, deal_id,
        occurred_at, attributes, definition_version, source, source_record)
        SELECT 'pipedrive:x:' || i, {types}[1 + i % {len(TYPES)}],
        'person-' || (1 + i % {people}), CASE WHEN i % 5 = 1 THEN 'deal-' || (1 + i % {deals})
        END, {ago.format(n="i")},
        '{{"changes": {{"name": {{"old": "a", "new": "b"}}, "phone": {{"old": null,
        "new": "1"}}}}}}', 1, 'pipedrive', 'person:' || i
        FROM generate_series(1, {activities}) AS g(i)""",
        "INSERT INTO cdp.activity_definitions (activity_type, definition_version, "
        "attribute_names) SELECT t, 1, '[]' FROM (VALUES "
        + ", ".join(f"('{t}')" for t in TYPES)
        + ") AS v(t)",
        f"""INSERT INTO cdp.sync_runs (run_id, started_at, finished_at, status, counts)
        SELECT 'run-' || i, {ago.format(n="i * 900")}, {ago.format(n="i * 900 - 120")},
        'succeeded', '{{"persons": {{"inserted": 10, "updated": 200}},
        "activities": {{"inserted": 500}}}}' FROM generate_series(1, 500) AS g(i)""",
        """INSERT INTO cdp.rejected_records (rejection_key, stream, record_key, reason,
        raw_record, first_run_id) SELECT 'rej-' || i, 'persons', '' || i,
        'id: not an integer', '{"id": "x"}', 'run-' || (1 + i % 500)
        FROM generate_series(1, 2000) AS g(i)""",
        f"""INSERT INTO cdp.identity_conflicts (conflict_key, pipedrive_person_id, email,
        conflicting_person_id, conflicting_pipedrive_person_id, resolution, detected_at)
        SELECT 'conf-' || i, {people} + i, 'user' || i || '@mail' || (i % 97) || '.io',
        'person-' || i, i, 'created_separate_person', {ago.format(n="i * 100")}
        FROM generate_series(1, 2000) AS g(i)""",
        "CREATE SCHEMA IF NOT EXISTS audiences",
        "CREATE TABLE audiences.audience_membership (membership_id text, audience text, "
        "member_kind text, member_id text, stint_number bigint, entered_at timestamptz, "
        "exited_at timestamptz)",
        "CREATE TABLE audiences.audience_builds (as_of timestamptz, members bigint)",
        f"""INSERT INTO audiences.audience_membership SELECT
        a || ':person-' || i || ':1', a, 'person', 'person-' || i, 1,
        {ago.format(n="(i % 10) * 86400")},
        CASE WHEN i % 3 = 0 THEN {ago.format(n="(i % 5) * 86400")} END
        FROM generate_series(1, {people // 10}) AS g(i),
        (VALUES ('slipping_subscribers'), ('repeat_customers')) AS v(a)""",
        f"""INSERT INTO audiences.audience_builds SELECT {ago.format(n="i * 86400")}, 0
        FROM generate_series(0, 9) AS g(i)""",
        *(MEMBERSHIP_INDEXES if dialect == "postgresql" else ()),
    ]


#: The indexes transform/macros/ensure_index.sql gives audience_membership on PostgreSQL
#: (this bench writes the table itself instead of running dbt).
MEMBERSHIP_INDEXES = tuple(
    f"CREATE INDEX membership_{n} ON audiences.audience_membership {definition}"
    for n, definition in enumerate(
        (
            "(member_id)",
            "(audience, member_id) WHERE (exited_at IS NULL)",
            "(audience, entered_at)",
            "(audience, exited_at)",
        )
    )
)


def fill(url: str, people: int, activities: int) -> None:
    engine = sa.create_engine(url)
    tables = build_tables(_schema(engine))
    migrate(engine, tables)
    pg = engine.dialect.name == "postgresql"  # psycopg reads % as a placeholder
    with engine.begin() as conn:
        for statement in fill_sql(engine.dialect.name, people, activities):
            started = time.monotonic()
            conn.exec_driver_sql(statement.replace("%", "%%") if pg else statement)
            print(f"  {statement.split()[2]:<40} {time.monotonic() - started:6.1f} s", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def _schema(engine: sa.Engine) -> str:
    if engine.dialect.name != "duckdb":
        return "cdp"
    with engine.connect() as conn:
        return f"{conn.exec_driver_sql('SELECT current_database()').scalar_one()}.cdp"


@contextlib.contextmanager
def serve(project: Path, environment: str, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = 18800 + os.getpid() % 1000
    shutil.copy(ROOT / "meltano.yml", project / "meltano.yml")
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "CDP_"))},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}",
        **env,
    }
    command = [
        str(BIN / "cdp-view"),
        "serve",
        "--port",
        str(port),
        "--project-dir",
        str(project),
        "--environment",
        environment,
    ]
    process = subprocess.Popen(command, env=full_env)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                sys.exit("cdp-view exited")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url + "/", timeout=60)
                break
            time.sleep(0.5)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def tenth_feed_page(client: httpx.Client) -> str:
    """The URL of the activity feed's tenth page (following 'Older' links)."""
    url = "/activity"
    for _ in range(9):
        html = client.get(url).text
        marker = html.index('id="next"')
        url = html[html.rindex('href="', 0, marker) + 6 : html.rindex('"', 0, marker)]
        url = url.replace("&amp;", "&")
    return url


def measure(url: str, pid: int, repeat: int) -> None:
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        process = psutil.Process(pid)
        while not done.is_set():
            try:
                peak[0] = max(peak[0], process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with httpx.Client(base_url=url, timeout=120) as client:
        pages = {
            "details": "/",
            "overview": "/overview",
            "activity feed": "/activity",
            "activity feed, page 10": tenth_feed_page(client),
            "activity feed, one type": "/activity?type=pipedrive.note.added",
            "audience table": "/people",
            "audience search": "/people?q=user4242",
            "person": "/people/person-4242",
            "audience": "/audiences/slipping_subscribers",
        }
        print(f"  {'page':<26} {'p50 ms':>8} {'p95 ms':>8}")
        for name, path in pages.items():
            client.get(path).raise_for_status()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"  {name:<26} {statistics.median(times):8.0f} {p95:8.0f}", flush=True)
    done.set()
    watcher.join()
    print(f"  server peak RSS: {peak[0] / 2**20:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=5_000_000)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "postgresql"])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-view-") as tmp:
        work = Path(tmp)
        for engine in args.engines:
            print(f"\n{engine}: {args.people:,} people, {args.activities:,} activities", flush=True)
            if engine == "duckdb":
                url = f"duckdb:///{work / 'warehouse.duckdb'}"
                fill(url, args.people, args.activities)
                with serve(work, "dev", {"TARGET_CDP_DATABASE_URL": url}) as (base, pid):
                    measure(base, pid, args.repeat)
                continue
            admin = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
            name = f"bench_view_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = admin.rpartition("/")[0].replace("postgresql://", "postgresql+psycopg://")
            url = f"{url}/{name}"
            try:
                fill(url, args.people, args.activities)
                with serve(work, "prod", {"CDP_DATABASE_URL": url}) as (base, pid):
                    measure(base, pid, args.repeat)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
