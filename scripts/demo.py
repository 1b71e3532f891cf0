"""The README's demo: the main job against the local Pipedrive sandbox, twice, with a summary.

1. starts a seeded Pipedrive sandbox on a free port;
2. `meltano run tap-pipedrive target-cdp dbt:build` in the `demo` environment (a full sync into
   the demo's own DuckDB file `output/demo.duckdb`, then the dbt audiences);
3. changes a few records in the sandbox as a sales team would, picked so the audiences move (a
   deal won, an engaged deal deleted, a note on a deal nobody engaged with, a subscribed person
   unsubscribed);
4. runs the same job again: an incremental sync from Meltano's state;
5. prints what each run did (deletions and the activities the CDP derived included), the CDP's
   contents, which audience members entered and left, and what became of the unsubscribe;
   last, any select: pattern of meltano.yml that matched nothing (the tap's warning).

Each `make demo` starts from scratch, but only its own: it clears the `demo` environment's file
and state (`demo:tap-pipedrive-to-target-cdp`), never the `dev` CDP (`output/warehouse.duckdb`,
where a real account may live) nor dev's state. The sandbox's URL and token are passed as the
tap's variables, which win over an account's kept in `.env`; the account's OAuth settings are
blanked so they do not mix in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import duckdb
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = "demo"
OUTPUT = ROOT / "output"
CDP_FILE = OUTPUT / "demo.duckdb"  # the demo environment's file in meltano.yml
STATE_ID = f"{ENVIRONMENT}:tap-pipedrive-to-target-cdp"
SCALE = int(os.environ.get("DEMO_SCALE", "5000"))
JOB = ["run", "tap-pipedrive", "target-cdp", "dbt:build"]
# Leads that became deals: the deals naming the lead they were made from (source_lead_id).
CONVERTED_LEADS = "select count(*) from cdp.deals where attributes->>'source_lead_id' is not null"
AUDIENCES = {
    "engaged_deals": "deal",
    "slipping_subscribers": "person",
    "repeat_customers": "person",
}


def meltano(*args: str, env: dict[str, str], log: Path) -> None:
    """Run a Meltano command in the project, its output into ``log``; stop the demo if it fails."""
    command = ["meltano", "--environment", ENVIRONMENT, *args]
    with log.open("w") as out:
        result = subprocess.run(
            command, cwd=ROOT, env=env, check=False, stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        print(log.read_text()[-6000:], file=sys.stderr)
        sys.exit(f"demo: `{' '.join(command)}` failed (exit {result.returncode}); log: {log}")


def timed_job(env: dict[str, str], number: int) -> float:
    """Run the main job once; return its wall time in seconds."""
    log = OUTPUT / f"demo-run-{number}.log"
    print(f"Run {number}: meltano run {' '.join(JOB[1:])} ...", end=" ", flush=True)
    started = time.monotonic()
    meltano(*JOB, env=env, log=log)
    seconds = time.monotonic() - started
    print(f"done in {seconds:.1f} s (log: {log.relative_to(ROOT)})", flush=True)
    return seconds


def _query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(CDP_FILE), read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


def audience_members() -> dict[str, set[int]]:
    """Pipedrive ids of each audience's members (deals or persons), read from the CDP file."""
    id_of = {
        "deal": "select d.pipedrive_deal_id from audiences.{a} x join cdp.deals d using (deal_id)",
        "person": (
            "select p.pipedrive_person_id from audiences.{a} x join cdp.people p using (person_id)"
        ),
    }
    return {
        audience: {row[0] for row in _query(id_of[kind].format(a=audience))}
        for audience, kind in AUDIENCES.items()
    }


def change_some_records(sandbox: RunningSandbox, before: dict[str, set[int]]) -> dict[str, Any]:
    """Make the changes a sales team makes between two syncs, picked so audiences move."""
    control = sandbox.control
    deals = control.dataset("deals", include_deleted=False)
    open_deals = [d for d in deals if d["status"] == "open" and not d.get("is_archived")]
    wins: dict[int, int] = {}
    for deal in deals:
        if deal["status"] == "won" and deal.get("person_id"):
            wins[deal["person_id"]] = wins.get(deal["person_id"], 0) + 1
    engaged = [d for d in open_deals if d["id"] in before["engaged_deals"]]
    quiet = [d for d in open_deals if d["id"] not in before["engaged_deals"]]
    # A win for someone with one won deal already makes them a repeat customer.
    won = next((d for d in open_deals if wins.get(d.get("person_id")) == 1), open_deals[0])
    deleted = next(d for d in engaged or open_deals if d["id"] != won["id"])
    noted = next(d for d in quiet or open_deals if d["id"] not in (won["id"], deleted["id"]))
    person = next(
        p
        for p in control.dataset("persons", include_deleted=False)
        if p.get("marketing_status") == "subscribed"
    )
    control.update("deals", won["id"], {"status": "won"})
    control.delete("deals", deleted["id"])
    note = control.create(
        "notes", {"content": "<p>Called: ready to sign next week.</p>", "deal_id": noted["id"]}
    )
    control.update("persons", person["id"], {"marketing_status": "unsubscribed"})
    return {
        "lines": [
            f"deal {won['id']} ({won['title']}) marked won",
            f"deal {deleted['id']} ({deleted['title']}) deleted",
            f"note {note['id']} added to deal {noted['id']} ({noted['title']})",
            f"person {person['id']} ({person['name']}) unsubscribed from marketing",
        ],
        "unsubscribed": person,
    }


def print_runs(durations: list[float]) -> None:
    """What each run did, per stream, from target-cdp's ``sync_runs``."""
    runs = _query("select counts from cdp.sync_runs where status = 'succeeded' order by started_at")
    columns = ("inserted", "updated", "unchanged", "deleted", "activities")
    for number, ((counts,), seconds) in enumerate(zip(runs, durations, strict=False), 1):
        kind = "full sync" if number == 1 else "incremental sync"
        print(f"\nRun {number} ({kind}, {seconds:.1f} s including dbt):")
        print(
            f"  {'stream':<22}{'inserted':>9}{'updated':>9}{'unchanged':>10}{'deleted':>9}"
            f"{'derived':>9}"
        )
        for stream, c in sorted(_as_dict(counts).items()):
            if any(c.get(k) for k in columns):
                print(
                    f"  {stream:<22}{c.get('inserted', 0):>9}{c.get('updated', 0):>9}"
                    f"{c.get('unchanged', 0):>10}{c.get('deleted', 0):>9}"
                    f"{c.get('activities', 0):>9}"
                )
    _say(
        "(derived: CDP activities the target derived from what changed, such as"
        " pipedrive.deal.won; the `activities` row is Pipedrive's own activities stream)",
        indent="  ",
    )


def print_unsubscribe(person: dict[str, Any]) -> None:
    """What the CDP did with the unsubscribe, and the setting that decides it."""
    rows = _query(
        "select p.email_permission, d.rule from cdp.people p"
        " left join cdp.permission_decisions d on d.person_id = p.person_id"
        "  and d.channel = 'email' and d.source_value is not null"
        " where p.pipedrive_person_id = ? order by d.decided_at desc nulls last limit 1",
        person["id"],
    )
    if not rows:
        return
    permission, rule = rows[0]
    name = f"person {person['id']} ({person['name']})"
    decision = f" (decision rule: {rule})" if rule else ""
    print()
    if permission:
        _say(
            f"{name} unsubscribed in Pipedrive but keeps email permission in the CDP: a person"
            f" the CDP already has keeps their permission{decision}. Set target-cdp's"
            " propagate_unsubscribes: true in meltano.yml to let a Pipedrive unsubscribe"
            " lower it."
        )
    else:
        _say(
            f"{name} unsubscribed in Pipedrive and lost email permission in the CDP{decision}:"
            " target-cdp's propagate_unsubscribes is on."
        )


def print_summary(
    durations: list[float], changes: dict[str, Any], before: dict[str, set[int]]
) -> None:
    """What each run did and what the CDP now holds, read from the demo's DuckDB file."""
    print("\n=== Demo summary ===")
    print_runs(durations)
    print("\nChanged in Pipedrive between the runs:")
    for change in changes["lines"]:
        print(f"  - {change}")
    print_unsubscribe(changes["unsubscribed"])

    def one(sql: str) -> Any:
        return _query(sql)[0][0]

    print("\nThe CDP now holds:")
    print(
        f"  people               {one('select count(*) from cdp.people'):>7}"
        f"  ({one('select count(*) from cdp.people where email_permission')} email-subscribed)"
    )
    print(f"  organizations        {one('select count(*) from cdp.organizations'):>7}")
    print(
        f"  deals                {one('select count(*) from cdp.deals'):>7}"
        f"  ({one('select count(*) from cdp.deals where is_deleted')} deleted)"
    )
    print(
        f"  leads                {one('select count(*) from cdp.leads'):>7}"
        f"  ({one(CONVERTED_LEADS)} deals were made from a lead)"
    )
    print(
        f"  derived activities   {one('select count(*) from cdp.activities'):>7}"
        f"  (within retention; {one('select sum(count) from cdp.activity_summary')}"
        " counted in activity_summary)"
    )
    after = audience_members()
    print("\nAudiences after run 1 -> after run 2:")
    for audience, kind in AUDIENCES.items():
        entered, left = (
            sorted(after[audience] - before[audience]),
            sorted(before[audience] - after[audience]),
        )
        moves = [f"+{kind} {i}" for i in entered] + [f"-{kind} {i}" for i in left]
        print(
            f"  {audience:<22}{len(before[audience]):>6} -> {len(after[audience]):<6}"
            f"{' '.join(moves)}"
        )
    relative = CDP_FILE.relative_to(ROOT)
    print(f"\nThe demo's CDP is the DuckDB file {relative}. Query it with:")
    query = f"duckdb.connect('{relative}', read_only=True).sql('from audiences.engaged_deals')"
    print(f'  .venv/bin/python -c "import duckdb; print({query})"')


def print_select_warnings(logs: list[Path]) -> None:
    """Repeat, last, the tap's warnings about select: patterns that matched nothing."""
    marker = " tap-pipedrive select: "
    warnings = sorted(
        {
            "select: " + line.split(marker, 1)[1]
            for log in logs
            for line in log.read_text().splitlines()
            if marker in line
        }
    )
    if warnings:
        print("\nWarnings (meltano.yml):")
        for warning in warnings:
            _say(warning, indent="  ")


def _say(text: str, indent: str = "") -> None:
    print(textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent))


def _as_dict(value: Any) -> dict[str, dict[str, int]]:
    if isinstance(value, str):
        return json.loads(value)
    return value


def main() -> None:
    """Run the demo."""
    OUTPUT.mkdir(exist_ok=True)
    for stale in (CDP_FILE, CDP_FILE.with_name(f"{CDP_FILE.name}.wal")):
        stale.unlink(missing_ok=True)
    with start_sandbox(seed=42, scale=SCALE) as sandbox:
        print(f"Pipedrive sandbox with {SCALE} records at {sandbox.base_url}")
        env = {
            **os.environ,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
            "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
            "TAP_PIPEDRIVE_CLIENT_ID": "",
            "TAP_PIPEDRIVE_CLIENT_SECRET": "",
            "TAP_PIPEDRIVE_REFRESH_TOKEN": "",
            "TARGET_CDP_DATABASE_URL": f"duckdb:///{CDP_FILE}",
        }
        print("Installing the Meltano plugins the job needs ...", flush=True)
        meltano("run", "--only-install", *JOB[1:], env=env, log=OUTPUT / "demo-install.log")
        meltano("state", "clear", "--force", STATE_ID, env=env, log=OUTPUT / "demo-state.log")
        durations = [timed_job(env, 1)]
        before = audience_members()
        changes = change_some_records(sandbox, before)
        durations.append(timed_job(env, 2))
    print_summary(durations, changes, before)
    print_select_warnings([OUTPUT / "demo-run-1.log", OUTPUT / "demo-run-2.log"])


if __name__ == "__main__":
    main()
