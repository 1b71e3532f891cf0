"""Issue 12's acceptance example end to end through Meltano, on DuckDB (dev) and PostgreSQL
(prod): `meltano run tap-pipedrive target-cdp dbt:build`, then the `writeback` job
(`tap-cdp target-pipedrive`) with the actions meltano.yml declares.

One scenario per engine. The CDP also holds a person of another source (a form) who is a
slipping subscriber. Every build is at one ``as_of`` an hour ahead of the sandbox's clock, so
a later change made in the sandbox falls inside every window and nothing crosses a window edge
between builds (a rebuild at the same as_of records only what changed):
1. sync + build; writeback 1 performs the actions;
2. writeback 2 (nothing changed) sends nothing;
3. a salesperson notes an open deal nobody engaged with; sync + build bring that note and every
   write of writeback 1 back; writeback 3 sends exactly one update: that deal to stage 3.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from e2e_meltano import ROOT, MeltanoProject, read_rows
from pipedrive_sandbox.testing import start_sandbox
from target_cdp.database import Database
from target_cdp.settings import Settings

pytestmark = [pytest.mark.meltano]

SYNC = ("run", "tap-pipedrive", "target-cdp", "dbt:build")
WRITEBACK = ("run", "writeback")
FORM_PERSON = {
    "person_id": "form:cara",
    "email": "cara.only@example.org",
    "first_name": "Cara",
    "last_name": "Only",
    "source": "form",
    "email_permission": True,
    "sms_permission": False,
    "attributes": {},
}
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass
class Scenario:
    engine: str
    url: str
    members: dict[str, set[str]] = field(default_factory=dict)  # audience -> CDP ids
    pipedrive_person: dict[str, int] = field(default_factory=dict)  # CDP person -> Pipedrive
    pipedrive_deal: dict[str, int] = field(default_factory=dict)
    before: dict[str, dict[int, dict]] = field(default_factory=dict)  # sandbox before writeback 1
    after_first: dict[str, dict[int, dict]] = field(default_factory=dict)
    writes: list[dict[str, int]] = field(default_factory=list)  # write requests per writeback
    noted_deal: int = 0
    members_after_echo: dict[str, set[str]] = field(default_factory=dict)
    stints_after_echo: list[dict[str, Any]] = field(default_factory=list)
    activities_after_echo: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, dict[int, dict]] = field(default_factory=dict)


def _project(engine: str, work_dir: Path, sandbox: Any, pg_url: str | None) -> MeltanoProject:
    pipedrive = {
        "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
        "TARGET_PIPEDRIVE_API_URL": sandbox.base_url,
        "TARGET_PIPEDRIVE_API_TOKEN": sandbox.api_token,
    }
    if engine == "duckdb":
        path = work_dir / "warehouse.duckdb"
        url = f"duckdb:///{path}"
        return MeltanoProject(
            "dev",
            work_dir,
            {
                **pipedrive,
                "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
                "TARGET_CDP_DATABASE_URL": url,
                "TAP_CDP_DATABASE_URL": url,
                "TARGET_PIPEDRIVE_DATABASE_URL": url,
                "CDP_DUCKDB_PATH": str(path),
            },
        )
    assert pg_url is not None
    parts = urlsplit(pg_url)
    return MeltanoProject(
        "prod",
        work_dir,
        {
            **pipedrive,
            "PIPEDRIVE_API_URL": sandbox.base_url,
            "CDP_DATABASE_URL": pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "CDP_PG_HOST": parts.hostname or "127.0.0.1",
            "CDP_PG_PORT": str(parts.port or 5432),
            "CDP_PG_USER": parts.username or "postgres",
            "CDP_PG_PASSWORD": parts.password or "",
            "CDP_PG_DATABASE": parts.path.lstrip("/"),
        },
    )


def _add_form_person(url: str, as_of: dt.datetime) -> None:
    """A CDP person from a form, never in Pipedrive, who last opened an email 45 days ago."""
    database = Database(Settings.from_config({"database_url": url}))
    database.migrate()
    with database.engine.begin() as conn:
        conn.execute(
            database.tables.people.insert(),
            [{**FORM_PERSON, "created_at": as_of - dt.timedelta(days=200)}],
        )
        opened = as_of - dt.timedelta(days=45)
        conn.execute(
            database.tables.activity_summary.insert(),
            [
                {
                    "person_id": "form:cara",
                    "activity_type": "email.opened",
                    "first_at": opened,
                    "last_at": opened,
                    "count": 1,
                }
            ],
        )
    database.dispose()


def _members(url: str) -> dict[str, set[str]]:
    rows = read_rows(
        url, "select audience, member_id from audiences.audience_membership where exited_at is null"
    )
    members: dict[str, set[str]] = {}
    for row in rows:
        members.setdefault(row["audience"], set()).add(row["member_id"])
    return members


def _sandbox(control: Any) -> dict[str, dict[int, dict]]:
    return {
        kind: {r["id"]: r for r in control.dataset(kind, include_deleted=False)}
        for kind in ("persons", "deals", "activities", "notes")
    }


def _writeback(project: MeltanoProject, sandbox: Any) -> dict[str, int]:
    """Run the writeback job; return its write requests by operation."""
    sandbox.control.reset_stats()
    project.run(*WRITEBACK)
    by_operation = sandbox.control.stats()["by_operation"]
    return {
        operation: figures["requests"]
        for operation, figures in by_operation.items()
        if operation.startswith(WRITE_METHODS)
    }


def _quiet_deal(state: dict[str, dict[int, dict]], members: set[str], deal_of: dict) -> int:
    """An open deal nobody engaged with, of a live person, not in stage 3."""
    engaged = {deal_of[d] for d in members}
    return min(
        d["id"]
        for d in state["deals"].values()
        if d["status"] == "open"
        and not d.get("is_archived")
        and d["id"] not in engaged
        and d.get("stage_id") != 3
        and d.get("person_id") in state["persons"]
    )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def scenario(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_pg_database: Callable[[], str],
) -> Iterator[Scenario]:
    engine = request.param
    work_dir = tmp_path_factory.mktemp(f"writeback-{engine}")
    pg_url = make_pg_database() if engine == "postgres" else None
    with start_sandbox(seed=12, scale=400) as sandbox:
        project = _project(engine, work_dir, sandbox, pg_url)
        if not (ROOT / ".meltano" / "extractors" / "tap-cdp").is_dir():
            project.run("run", "--only-install", "tap-cdp", "target-pipedrive")
        url = project.env.get("TARGET_CDP_DATABASE_URL") or project.env["CDP_DATABASE_URL"]
        control = sandbox.control
        as_of = dt.datetime.fromisoformat(control.now().replace("Z", "+00:00"))
        as_of += dt.timedelta(hours=1)
        build = {"CDP_AS_OF": as_of.isoformat()}
        result = Scenario(engine, url)
        _add_form_person(url, as_of)

        project.run(*SYNC, extra_env=build)
        result.members = _members(url)
        people = read_rows(url, "select person_id, pipedrive_person_id from cdp.people")
        result.pipedrive_person = {r["person_id"]: r["pipedrive_person_id"] for r in people}
        deals = read_rows(url, "select deal_id, pipedrive_deal_id from cdp.deals")
        result.pipedrive_deal = {r["deal_id"]: r["pipedrive_deal_id"] for r in deals}
        result.before = _sandbox(control)

        result.writes.append(_writeback(project, sandbox))
        result.after_first = _sandbox(control)
        result.writes.append(_writeback(project, sandbox))

        result.noted_deal = _quiet_deal(
            result.after_first, result.members.get("engaged_deals", set()), result.pipedrive_deal
        )
        control.create("notes", {"content": "Asked for a quote.", "deal_id": result.noted_deal})
        project.run(*SYNC, extra_env=build)
        result.members_after_echo = _members(url)
        result.stints_after_echo = read_rows(url, "select * from audiences.audience_membership")
        result.activities_after_echo = read_rows(
            url, "select activity_type, source_record, attributes from cdp.activities"
        )
        result.writes.append(_writeback(project, sandbox))
        result.final = _sandbox(control)
        yield result


def _new(after: dict[str, dict[int, dict]], before: dict[str, dict[int, dict]], kind: str) -> list:
    return [r for i, r in after[kind].items() if i not in before[kind]]


def test_the_audiences_are_not_empty(scenario: Scenario) -> None:
    for audience in ("slipping_subscribers", "repeat_customers", "engaged_deals"):
        assert scenario.members.get(audience), audience
    assert "form:cara" in scenario.members["slipping_subscribers"]


def test_one_call_per_slipping_subscriber_and_a_person_for_the_cdp_only_one(
    scenario: Scenario,
) -> None:
    created = _new(scenario.after_first, scenario.before, "persons")
    cara = [p for p in created if "cara.only@example.org" in str(p.get("emails") or p.get("email"))]
    assert len(cara) == 1
    expected = {
        scenario.pipedrive_person[p] or cara[0]["id"]
        for p in scenario.members["slipping_subscribers"]
    }
    calls = Counter(
        a["person_id"] for a in _new(scenario.after_first, scenario.before, "activities")
    )
    assert calls == Counter(dict.fromkeys(expected, 1))
    assert all(
        a["type"] == "call" for a in _new(scenario.after_first, scenario.before, "activities")
    )


def test_one_note_per_repeat_customer(scenario: Scenario) -> None:
    notes = Counter(n["person_id"] for n in _new(scenario.after_first, scenario.before, "notes"))
    expected = {scenario.pipedrive_person[p] for p in scenario.members["repeat_customers"]}
    assert notes == Counter(dict.fromkeys(expected, 1))


def test_every_engaged_deal_is_in_stage_3(scenario: Scenario) -> None:
    for deal_id in scenario.members["engaged_deals"]:
        assert scenario.after_first["deals"][scenario.pipedrive_deal[deal_id]]["stage_id"] == 3


def test_a_second_run_sends_nothing(scenario: Scenario) -> None:
    assert scenario.writes[0]
    assert scenario.writes[1] == {}


def test_the_writes_come_back_without_counting_as_engagement(scenario: Scenario) -> None:
    """Nobody left an audience or started a new stint because of the write-back's echoes; the
    salesperson's note made its deal engaged."""
    noted = next(d for d, pid in scenario.pipedrive_deal.items() if pid == scenario.noted_deal)
    engaged = scenario.members_after_echo["engaged_deals"]
    assert engaged == scenario.members["engaged_deals"] | {noted}
    assert scenario.members_after_echo["repeat_customers"] == scenario.members["repeat_customers"]
    noted_person = scenario.after_first["deals"][scenario.noted_deal]["person_id"]
    kept = {
        p
        for p in scenario.members["slipping_subscribers"]
        if scenario.pipedrive_person[p] != noted_person
    }
    assert kept <= scenario.members_after_echo["slipping_subscribers"]
    assert max(s["stint_number"] for s in scenario.stints_after_echo) == 1
    marked = Counter(
        (a["activity_type"], bool(_attributes(a).get("writeback_action")))
        for a in scenario.activities_after_echo
    )
    assert marked[("pipedrive.note.added", True)] == len(scenario.members["repeat_customers"])
    assert marked[("pipedrive.activity.created", True)] == len(
        scenario.members["slipping_subscribers"]
    )


def test_a_change_in_the_cdp_sends_one_update(scenario: Scenario) -> None:
    ((operation, requests),) = scenario.writes[2].items()
    assert (operation.split()[0], requests) == ("PATCH", 1)
    assert "deals" in operation
    assert scenario.final["deals"][scenario.noted_deal]["stage_id"] == 3
    assert len(scenario.final["activities"]) == len(scenario.after_first["activities"])
    assert len(scenario.final["notes"]) == len(scenario.after_first["notes"]) + 1


def _attributes(activity: dict[str, Any]) -> dict[str, Any]:
    value = activity["attributes"]
    return json.loads(value) if isinstance(value, str) else value
