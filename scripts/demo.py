"""The README's demo: the main job against the local Pipedrive sandbox, twice, with a summary.

1. starts a seeded Pipedrive sandbox on a free port;
2. `meltano run tap-pipedrive target-cdp dbt:build` in the `dev` environment (a full sync into
   the embedded DuckDB file `output/warehouse.duckdb`, then the dbt audiences);
3. changes a few records in the sandbox as a sales team would (a deal won, a deal deleted, a
   person unsubscribed, a note added);
4. runs the same job again: an incremental sync from Meltano's state;
5. prints what each run did, the CDP's contents and the audience sizes.

Each `make demo` starts from scratch: it clears the dev CDP file and the dev Meltano state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
CDP_FILE = ROOT / "output" / "warehouse.duckdb"
STATE_ID = "dev:tap-pipedrive-to-target-cdp"
SCALE = int(os.environ.get("DEMO_SCALE", "5000"))
JOB = ["run", "tap-pipedrive", "target-cdp", "dbt:build"]


def meltano(*args: str, env: dict[str, str], log: Path) -> None:
    """Run a Meltano command in the project, its output into ``log``; stop the demo if it fails."""
    command = ["meltano", "--environment", "dev", *args]
    with log.open("w") as out:
        result = subprocess.run(
            command, cwd=ROOT, env=env, check=False, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        print(log.read_text()[-6000:], file=sys.stderr)
        sys.exit(f"demo: `{' '.join(command)}` failed (exit {result.returncode}); log: {log}")


def timed_job(env: dict[str, str], number: int) -> float:
    """Run the main job once; return its wall time in seconds."""
    log = CDP_FILE.parent / f"demo-run-{number}.log"
    print(f"Run {number}: meltano run {' '.join(JOB[1:])} ...", end=" ", flush=True)
    started = time.monotonic()
    meltano(*JOB, env=env, log=log)
    seconds = time.monotonic() - started
    print(f"done in {seconds:.1f} s (log: {log.relative_to(ROOT)})", flush=True)
    return seconds


def change_some_records(sandbox: RunningSandbox) -> list[str]:
    """Make the changes a sales team makes between two syncs; describe them."""
    control = sandbox.control
    open_deals = [
        d for d in control.dataset("deals", include_deleted=False) if d["status"] == "open"
    ]
    subscribed = [
        p
        for p in control.dataset("persons", include_deleted=False)
        if p.get("marketing_status") == "subscribed"
    ]
    won, deleted = open_deals[0], open_deals[1]
    person = subscribed[0]
    control.update("deals", won["id"], {"status": "won"})
    control.delete("deals", deleted["id"])
    control.update("persons", person["id"], {"marketing_status": "unsubscribed"})
    note = control.create(
        "notes", {"content": "<p>Called: ready to sign next week.</p>", "deal_id": won["id"]}
    )
    return [
        f"deal {won['id']} ({won['title']}) marked won",
        f"deal {deleted['id']} ({deleted['title']}) deleted",
        f"person {person['id']} ({person['name']}) unsubscribed from marketing in Pipedrive",
        f"note {note['id']} added to deal {won['id']}",
    ]


def print_summary(durations: list[float], changes: list[str]) -> None:
    """What each run did and what the CDP now holds, read from the DuckDB file."""
    with duckdb.connect(str(CDP_FILE), read_only=True) as db:
        runs = db.execute(
            "select counts from cdp.sync_runs where status = 'succeeded' order by started_at"
        ).fetchall()

        def one(sql: str) -> Any:
            return db.execute(sql).fetchone()[0]

        print("\n=== Demo summary ===")
        for number, ((counts,), seconds) in enumerate(zip(runs, durations, strict=False), 1):
            kind = "full sync" if number == 1 else "incremental sync"
            print(f"\nRun {number} ({kind}, {seconds:.1f} s including dbt):")
            print(
                f"  {'stream':<22}{'inserted':>9}{'updated':>9}{'unchanged':>10}{'activities':>11}"
            )
            for stream, c in sorted(_as_dict(counts).items()):
                if any(c.get(k) for k in ("inserted", "updated", "unchanged", "activities")):
                    print(
                        f"  {stream:<22}{c.get('inserted', 0):>9}{c.get('updated', 0):>9}"
                        f"{c.get('unchanged', 0):>10}{c.get('activities', 0):>11}"
                    )
        print("\nChanged in Pipedrive between the runs:")
        for change in changes:
            print(f"  - {change}")
        print("\nThe CDP now holds:")
        print(
            f"  people          {one('select count(*) from cdp.people'):>7}"
            f"  ({one('select count(*) from cdp.people where email_permission'):} email-subscribed)"
        )
        print(f"  organizations   {one('select count(*) from cdp.organizations'):>7}")
        print(
            f"  deals           {one('select count(*) from cdp.deals'):>7}"
            f"  ({one('select count(*) from cdp.deals where is_deleted'):} deleted)"
        )
        print(
            f"  activities      {one('select count(*) from cdp.activities'):>7}"
            f"  (within retention; {one('select sum(count) from cdp.activity_summary')}"
            " counted in activity_summary)"
        )
        print("\nAudiences:")
        for audience in ("engaged_deals", "slipping_subscribers", "repeat_customers"):
            print(f"  {audience:<22}{one(f'select count(*) from audiences.{audience}'):>6} members")
    relative = CDP_FILE.relative_to(ROOT)
    print(f"\nThe CDP is the DuckDB file {relative}. Query it with:")
    query = f"duckdb.connect('{relative}', read_only=True).sql('from audiences.engaged_deals')"
    print(f'  .venv/bin/python -c "import duckdb; print({query})"')


def _as_dict(value: Any) -> dict[str, dict[str, int]]:
    if isinstance(value, str):
        return json.loads(value)
    return value


def main() -> None:
    """Run the demo."""
    CDP_FILE.parent.mkdir(exist_ok=True)
    CDP_FILE.unlink(missing_ok=True)
    with start_sandbox(seed=42, scale=SCALE) as sandbox:
        print(f"Pipedrive sandbox with {SCALE} records at {sandbox.base_url}")
        env = {
            **os.environ,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
            "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
        }
        print("Installing the Meltano plugins ...", flush=True)
        meltano("install", env=env, log=CDP_FILE.parent / "demo-install.log")
        meltano(
            "state", "clear", "--force", STATE_ID, env=env, log=CDP_FILE.parent / "demo-state.log"
        )
        durations = [timed_job(env, 1)]
        changes = change_some_records(sandbox)
        durations.append(timed_job(env, 2))
    print_summary(durations, changes)


if __name__ == "__main__":
    main()
