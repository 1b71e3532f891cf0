"""The main job through Meltano itself: `meltano run tap-pipedrive target-cdp dbt:build`.

For each engine (dev = DuckDB file, prod = PostgreSQL), against a seeded sandbox:
run 1 is the full sync; then the sales team changes Pipedrive (a deal won, a person
unsubscribed, a note added to an open deal, a person deleted); run 2 is incremental; run 3 is the
next periodic reconciliation pass, the one that sees deleted persons. After each run the CDP rows,
activities and audiences are compared with what the sandbox's data implies (expectations.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from e2e_expectations import (
    RETENTION_DAYS,
    Sandbox,
    email_permissions_of_new_people,
    parse_time,
    primary_email,
)
from e2e_meltano import MeltanoProject, read_rows
from pipedrive_sandbox.testing import start_sandbox

pytestmark = [pytest.mark.meltano]

JOB = ("run", "tap-pipedrive", "target-cdp", "dbt:build")
INCREMENTAL_STREAMS = ("/api/v2/persons", "/api/v2/organizations", "/api/v2/activities")


@dataclass
class Run:
    """What one run of the main job left: its as_of, the CDP, the audiences, the API cost."""

    as_of: dt.datetime
    sandbox: Sandbox
    people: dict[int, dict[str, Any]]
    deals: dict[int, dict[str, Any]]
    activities: list[dict[str, Any]]
    audiences: dict[str, set[int]]
    requests: dict[str, int]
    received: dict[str, int]


@dataclass
class Scenario:
    """Three runs of the main job and the changes made between runs 1 and 2."""

    engine: str
    runs: list[Run] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)


def _environment(engine: str, work_dir: Path, sandbox: Any, pg_url: str | None) -> MeltanoProject:
    if engine == "duckdb":
        path = work_dir / "warehouse.duckdb"
        return MeltanoProject(
            "dev",
            work_dir,
            {
                "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
                "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
                "TARGET_CDP_DATABASE_URL": f"duckdb:///{path}",
                "CDP_DUCKDB_PATH": str(path),
            },
        )
    assert pg_url is not None
    parts = urlsplit(pg_url)
    return MeltanoProject(
        "prod",
        work_dir,
        {
            "PIPEDRIVE_API_URL": sandbox.base_url,
            "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
            "CDP_DATABASE_URL": pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "CDP_PG_HOST": parts.hostname or "127.0.0.1",
            "CDP_PG_PORT": str(parts.port or 5432),
            "CDP_PG_USER": parts.username or "postgres",
            "CDP_PG_PASSWORD": parts.password or "",
            "CDP_PG_DATABASE": parts.path.lstrip("/"),
        },
    )


def _database_url(project: MeltanoProject) -> str:
    return project.env.get("TARGET_CDP_DATABASE_URL") or project.env["CDP_DATABASE_URL"]


def _run_job(project: MeltanoProject, sandbox: Any, **extra_env: str) -> Run:
    as_of = dt.datetime.now(tz=dt.UTC)
    sandbox.control.reset_stats()
    project.run(*JOB, extra_env={"CDP_AS_OF": as_of.isoformat(), **extra_env})
    url = _database_url(project)
    people = {
        r["pipedrive_person_id"]: r
        for r in read_rows(url, "select * from cdp.people where pipedrive_person_id is not null")
    }
    deals = {r["pipedrive_deal_id"]: r for r in read_rows(url, "select * from cdp.deals")}
    person_of = {r["person_id"]: pid for pid, r in people.items()}
    deal_of = {r["deal_id"]: did for did, r in deals.items()}
    audiences = {
        "engaged_deals": {
            deal_of[r["deal_id"]]
            for r in read_rows(url, "select deal_id from audiences.engaged_deals")
        },
        "slipping_subscribers": {
            person_of[r["person_id"]]
            for r in read_rows(url, "select person_id from audiences.slipping_subscribers")
        },
        "repeat_customers": {
            person_of[r["person_id"]]
            for r in read_rows(url, "select person_id from audiences.repeat_customers")
        },
    }
    stats = sandbox.control.stats()
    return Run(
        as_of=as_of,
        sandbox=Sandbox.read(sandbox.control),
        people=people,
        deals=deals,
        activities=read_rows(url, "select * from cdp.activities"),
        audiences=audiences,
        requests=_requests_by_path(stats),
        received=_records_received(url),
    )


def _records_received(url: str) -> dict[str, int]:
    """Records target-cdp received per stream in its latest run (from ``sync_runs``)."""
    (row,) = read_rows(url, "select counts from cdp.sync_runs order by started_at desc limit 1")
    counts = row["counts"] if isinstance(row["counts"], dict) else json.loads(row["counts"])
    kinds = ("inserted", "updated", "unchanged", "skipped", "rejected")
    return {stream: sum(c.get(k, 0) for k in kinds) for stream, c in counts.items()}


def _requests_by_path(stats: dict[str, Any]) -> dict[str, int]:
    """Requests per path (``GET /api/v2/persons`` -> ``/api/v2/persons``)."""
    counts: dict[str, int] = {}
    for operation, figures in stats["by_operation"].items():
        path = operation.split(" ", 1)[-1]
        counts[path] = counts.get(path, 0) + figures["requests"]
    return counts


def _change_pipedrive(sandbox: Any, before: Sandbox, as_of: dt.datetime) -> dict[str, int]:
    """The sales team's changes between runs 1 and 2; returns the Pipedrive ids touched."""
    control = sandbox.control
    live = before.live_persons()
    open_deals = sorted(
        (
            d
            for d in before.deals.values()
            if d["status"] == "open" and not d["is_archived"] and d.get("person_id") in live
        ),
        key=lambda d: d["id"],
    )
    engaged = before.engaged_deals(as_of)
    won = open_deals[0]
    noted = next(d for d in open_deals if d["id"] not in engaged and d["id"] != won["id"])
    unsubscribed = next(
        p for p in live.values() if p.get("marketing_status") == "subscribed" and primary_email(p)
    )
    deleted = next(
        p
        for p in live.values()
        if p["id"] not in {won["person_id"], noted["person_id"], unsubscribed["id"]}
        and primary_email(p)
    )
    control.update("deals", won["id"], {"status": "won"})
    control.update("persons", unsubscribed["id"], {"marketing_status": "unsubscribed"})
    note = control.create("notes", {"content": "<p>Asked for a quote.</p>", "deal_id": noted["id"]})
    control.delete("persons", deleted["id"])
    return {
        "won_deal": won["id"],
        "noted_deal": noted["id"],
        "note": note["id"],
        "unsubscribed_person": unsubscribed["id"],
        "deleted_person": deleted["id"],
    }


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def scenario(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_pg_database: Callable[[], str],
) -> Iterator[Scenario]:
    """Runs the three jobs once per engine; every test of the module reads the result."""
    engine = request.param
    work_dir = tmp_path_factory.mktemp(f"e2e-{engine}")
    pg_url = make_pg_database() if engine == "postgres" else None
    with start_sandbox(seed=11, scale=600) as sandbox:
        project = _environment(engine, work_dir, sandbox, pg_url)
        result = Scenario(engine)
        result.runs.append(_run_job(project, sandbox))
        result.changes = _change_pipedrive(sandbox, result.runs[0].sandbox, result.runs[0].as_of)
        result.runs.append(_run_job(project, sandbox))
        result.runs.append(
            _run_job(project, sandbox, TAP_PIPEDRIVE_RECONCILIATION_INTERVAL_DAYS="0")
        )
        yield result


def test_first_run_creates_a_person_per_live_pipedrive_person(scenario: Scenario) -> None:
    first = scenario.runs[0]
    live = first.sandbox.live_persons()
    assert set(first.people) == set(live)
    permissions = email_permissions_of_new_people(live)
    for pipedrive_id, person in live.items():
        row = first.people[pipedrive_id]
        assert row["email"] == primary_email(person), pipedrive_id
        assert row["first_name"] == person.get("first_name"), pipedrive_id
        assert row["email_permission"] is permissions[pipedrive_id], pipedrive_id
        assert row["sms_permission"] is False
        assert row["created_at"] == parse_time(person["add_time"])
        assert not row["is_deleted"]


def test_first_run_loads_every_deal_pipedrive_still_lists(scenario: Scenario) -> None:
    first = scenario.runs[0]
    now = first.as_of
    listed = {
        d["id"]
        for d in first.sandbox.deals.values()
        if d["status"] != "deleted" or parse_time(d["update_time"]) >= now - dt.timedelta(days=30)
    }
    assert set(first.deals) == listed
    for deal_id, row in first.deals.items():
        deal = first.sandbox.deals[deal_id]
        assert row["is_deleted"] is (deal["status"] == "deleted")
        assert row["is_archived"] is bool(deal["is_archived"])
        if deal["status"] != "deleted":
            assert row["status"] == deal["status"]
            assert row["stage_id"] == deal["stage_id"]
            assert row["won_time"] == parse_time(deal.get("won_time"))


def test_first_run_emits_historical_activities_within_retention(scenario: Scenario) -> None:
    first = scenario.runs[0]
    horizon = first.as_of - dt.timedelta(days=RETENTION_DAYS)
    won = {
        (a["source_record"], a["occurred_at"])
        for a in first.activities
        if a["activity_type"] == "pipedrive.deal.won"
    }
    expected = {
        (f"deal:{d['id']}", parse_time(d["won_time"]))
        for d in first.sandbox.deals.values()
        if d["status"] == "won" and parse_time(d["won_time"]) >= horizon
    }
    assert won == expected
    assert all(a["occurred_at"] >= horizon for a in first.activities)


def test_incremental_run_applies_the_changes(scenario: Scenario) -> None:
    second, changes = scenario.runs[1], scenario.changes
    won = second.deals[changes["won_deal"]]
    sandbox_deal = second.sandbox.deals[changes["won_deal"]]
    assert won["status"] == "won"
    assert won["won_time"] == parse_time(sandbox_deal["won_time"])
    keys = {a["activity_key"]: a for a in second.activities}
    won_key = f"pipedrive:deal:{changes['won_deal']}:won:{sandbox_deal['won_time']}"
    assert keys[won_key]["deal_id"] == won["deal_id"]
    note_key = f"pipedrive:note:{changes['note']}:added"
    assert keys[note_key]["deal_id"] == second.deals[changes["noted_deal"]]["deal_id"]
    # Consent is never changed for an existing person: the Pipedrive unsubscribe is recorded
    # in attributes, the CDP permission stays what it was.
    person = second.people[changes["unsubscribed_person"]]
    assert person["email_permission"] is True
    assert _attributes(person)["marketing_status"] == "unsubscribed"


def test_deleted_person_is_marked_by_the_reconciliation_pass(scenario: Scenario) -> None:
    deleted = scenario.changes["deleted_person"]
    assert not scenario.runs[1].people[deleted]["is_deleted"]  # incremental lists cannot see it
    row = scenario.runs[2].people[deleted]
    assert row["is_deleted"] is True
    assert row["email"] is not None  # marked, never dropped


def test_incremental_run_reads_only_what_changed(scenario: Scenario) -> None:
    """Run 2 reads each stream from its bookmark: what changed plus the inclusive boundary."""
    first, second = scenario.runs[0], scenario.runs[1]
    for kind in ("persons", "organizations", "activities", "notes"):
        bookmark = first.sandbox.bookmark(kind, first.as_of)
        expected = second.sandbox.read_since(kind, bookmark, second.as_of)
        assert second.received.get(kind, 0) == expected, kind
    assert second.received["notes"] >= 1  # the note added between the runs
    for path in INCREMENTAL_STREAMS:
        assert second.requests.get(path, 0) == 1, (path, second.requests)


@pytest.mark.parametrize("run_index", [0, 1, 2])
def test_audiences_match_the_sandbox_data(scenario: Scenario, run_index: int) -> None:
    run, first = scenario.runs[run_index], scenario.runs[0]
    live_now = run.sandbox.live_persons()
    first_live = first.sandbox.live_persons()
    permissions = email_permissions_of_new_people(first_live)
    subscribed = {
        pid
        for pid, person in first_live.items()
        if permissions[pid] and primary_email(person) and pid in live_now
    }
    created = {pid: parse_time(p["add_time"]) for pid, p in first.sandbox.persons.items()}
    synced_live = {pid for pid in run.people if not run.people[pid]["is_deleted"]}
    expected = {
        "engaged_deals": run.sandbox.engaged_deals(run.as_of),
        "slipping_subscribers": run.sandbox.slipping_subscribers(
            run.as_of, subscribed & synced_live, created
        ),
        "repeat_customers": run.sandbox.repeat_customers(synced_live),
    }
    for audience, members in expected.items():
        assert run.audiences[audience] == members, audience
    if run_index == 1:
        assert scenario.changes["noted_deal"] in run.audiences["engaged_deals"]
        assert scenario.changes["won_deal"] not in run.audiences["engaged_deals"]


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    value = row["attributes"]
    if isinstance(value, str):
        return json.loads(value)
    return value
