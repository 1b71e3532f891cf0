"""target-pipedrive against the sandbox: the issue's acceptance actions, reruns, changes,
crashes, faults, 4xx errors, the token budget, dry runs, custom fields and owners."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from pipedrive_sandbox.testing import RunningSandbox
from tap_pipedrive.errors import BudgetExhausted
from target_pipedrive.actions import parse_action
from target_pipedrive.client import Rejected, UncertainOutcome
from target_pipedrive.ledger import Ledger
from target_pipedrive.runner import Record, Runner
from writeback_helpers import (
    ACCEPTANCE_ACTIONS,
    change,
    config,
    messages,
    person,
    rows,
    run,
    writes,
)


def _persons_with_email(sandbox: RunningSandbox, email: str) -> list[dict[str, Any]]:
    return [
        p
        for p in sandbox.control.dataset("persons", include_deleted=False)
        if any(e["value"] == email for e in p["emails"])
    ]


def _activities_of(sandbox: RunningSandbox, person_id: int) -> list[dict[str, Any]]:
    return [
        a
        for a in sandbox.control.dataset("activities", include_deleted=False)
        if a.get("person_id") == person_id
    ]


def _notes_of(sandbox: RunningSandbox, person_id: int) -> list[dict[str, Any]]:
    return [
        n
        for n in sandbox.control.dataset("notes", include_deleted=False)
        if n.get("person_id") == person_id
    ]


def test_acceptance_actions_rerun_and_change(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    email = f"{unique('ann')}@example.org"
    existing = sandbox.control.create(
        "persons", {"name": "Bo Known", "emails": [{"value": f"{unique('bo')}@example.org"}]}
    )
    repeat = sandbox.control.create("persons", {"name": "Cy Repeat"})
    deal = next(
        d
        for d in sandbox.control.dataset("deals", include_deleted=False)
        if d["status"] == "open" and not d["is_archived"] and d["stage_id"] != 3
    )
    records = [
        change("m1:entered", "slipping_subscribers", who=person("p1", email, "Ann")),
        change(
            "m2:entered",
            "slipping_subscribers",
            who=person("p2", existing["emails"][0]["value"], "Bo", existing["id"]),
        ),
        change(
            "m3:entered",
            "repeat_customers",
            who=person("p3", None, "Cy", repeat["id"]),
            row={"won_deals": 4},
        ),
        change(
            "m4:entered",
            "engaged_deals",
            deal={"deal_id": "d1", "pipedrive_deal_id": deal["id"], "title": deal["title"]},
        ),
        change(
            "m5:exited",
            "slipping_subscribers",
            who=person("p4", "x@example.org", "X"),
            event="exited",
        ),
    ]
    sandbox.control.reset_stats()
    states, _ = run(config(sandbox, duck), messages(records))
    assert states == [{"bookmark": "s1"}]

    created = _persons_with_email(sandbox, email)
    assert [p["name"] for p in created] == ["Ann Tester"]
    calls = _activities_of(sandbox, created[0]["id"])
    assert [(a["subject"], a["type"], a["due_date"]) for a in calls] == [
        ("Check in with Ann", "call", "2026-06-01")
    ]
    assert [a["subject"] for a in _activities_of(sandbox, existing["id"])] == ["Check in with Bo"]
    assert sandbox.control.get("persons", existing["id"])["name"] == "Bo Tester"
    notes = _notes_of(sandbox, repeat["id"])
    assert len(notes) == 1
    assert notes[0]["content"].startswith("Repeat customer: 4 won deals<!-- cdp-writeback:")
    assert sandbox.control.get("deals", deal["id"])["stage_id"] == 3
    assert writes(sandbox) == {
        "GET /api/v2/persons/search": 2,
        "POST /api/v2/persons": 1,
        "PATCH /api/v2/persons/{id}": 1,
        "POST /api/v2/activities": 2,
        "POST /api/v1/notes": 1,
        "PATCH /api/v2/deals/{id}": 1,
    }
    ledger = rows(duck, "writeback_ledger")
    assert {(r["action"], r["source_key"], r["status"]) for r in ledger} == {
        ("slipping-subscribers-into-pipedrive", "m1:entered", "done"),
        ("slipping-subscribers-into-pipedrive", "m2:entered", "done"),
        ("call-slipping-subscribers", "m1:entered", "done"),
        ("call-slipping-subscribers", "m2:entered", "done"),
        ("note-repeat-customers", "m3:entered", "done"),
        ("engaged-deals-to-negotiation", "m4:entered", "done"),
    }
    upserted = next(
        r for r in ledger if r["source_key"] == "m1:entered" and r["object_type"] == "person"
    )
    assert (upserted["pipedrive_id"], upserted["cdp_person_id"]) == (created[0]["id"], "p1")

    sandbox.control.reset_stats()
    run(config(sandbox, duck), messages(records, "s2"))
    assert sandbox.control.stats()["requests"] == 0

    records[2]["row"] = {"won_deals": 5}
    run(config(sandbox, duck), messages(records, "s3"))
    assert writes(sandbox) == {"PUT /api/v1/notes/{id}": 1}
    notes = _notes_of(sandbox, repeat["id"])
    assert len(notes) == 1
    assert notes[0]["content"].startswith("Repeat customer: 5 won deals")


def test_crash_after_pipedrive_answered_then_rerun_creates_no_duplicate(
    sandbox: RunningSandbox,
    database: dict[str, str],
    unique: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email = f"{unique('dee')}@example.org"
    known = sandbox.control.create("persons", {"name": "Eve Known"})
    records = [
        change("c1:entered", "slipping_subscribers", who=person("p1", email, "Dee")),
        change(
            "c2:entered",
            "repeat_customers",
            who=person("p2", None, "Eve", known["id"]),
            row={"won_deals": 2},
        ),
    ]
    real_done = Ledger.write_done

    def crash(self: Ledger, action: str, source_key: str, pipedrive_id: int) -> None:
        if action == "call-slipping-subscribers":
            raise KeyboardInterrupt  # killed between Pipedrive's answer and the ledger write
        real_done(self, action, source_key, pipedrive_id)

    monkeypatch.setattr(Ledger, "write_done", crash)
    with pytest.raises(KeyboardInterrupt):
        run(config(sandbox, database), messages(records))
    monkeypatch.setattr(Ledger, "write_done", real_done)
    created = _persons_with_email(sandbox, email)
    assert len(created) == 1
    assert len(_activities_of(sandbox, created[0]["id"])) == 1
    assert {(r["action"], r["status"]) for r in rows(database, "writeback_ledger")} == {
        ("slipping-subscribers-into-pipedrive", "done"),
        ("call-slipping-subscribers", "intent"),
    }

    sandbox.control.reset_stats()
    states, _ = run(config(sandbox, database), messages(records))
    assert states == [{"bookmark": "s1"}]
    assert len(_activities_of(sandbox, created[0]["id"])) == 1
    assert len(_notes_of(sandbox, known["id"])) == 1
    # found by its marker: recorded, nothing sent again (the note had never been tried)
    assert writes(sandbox) == {"GET /api/v2/activities": 1, "POST /api/v1/notes": 1}
    assert {r["status"] for r in rows(database, "writeback_ledger")} == {"done"}


def test_429s_and_5xx_give_the_same_result(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    emails = [f"{unique(f'f{i}')}@example.org" for i in range(4)]
    records = [
        change(f"f{i}:entered", "slipping_subscribers", who=person(f"p{i}", e, f"F{i}"))
        for i, e in enumerate(emails)
    ]
    sandbox.control.set_faults(
        rate_limit={"every": 3, "count": 2}, server_error={"every": 4, "count": 3}
    )
    try:
        run(config(sandbox, duck), messages(records))
        injected = sandbox.control.stats()["faults_injected"]
    finally:
        sandbox.control.clear_faults()
    assert injected == {"rate_limit": 2, "server_error": 3}
    for email in emails:
        created = _persons_with_email(sandbox, email)
        assert len(created) == 1
        assert len(_activities_of(sandbox, created[0]["id"])) == 1
    assert {r["status"] for r in rows(duck, "writeback_ledger")} == {"done"}


def test_a_4xx_is_stored_and_the_rest_goes_through(
    sandbox: RunningSandbox, duck: dict[str, str]
) -> None:
    deal = next(
        d
        for d in sandbox.control.dataset("deals", include_deleted=False)
        if d["status"] == "open" and not d["is_archived"] and d["stage_id"] != 3
    )
    records = [
        change("e1:entered", "engaged_deals", deal={"deal_id": "d1", "pipedrive_deal_id": 999999}),
        change(
            "e2:entered", "engaged_deals", deal={"deal_id": "d2", "pipedrive_deal_id": deal["id"]}
        ),
    ]
    states, target = run(config(sandbox, duck), messages(records))
    assert states == [{"bookmark": "s1"}]
    assert sandbox.control.get("deals", deal["id"])["stage_id"] == 3
    errors = rows(duck, "writeback_errors")
    assert [(e["action"], e["source_key"], e["status"]) for e in errors] == [
        ("engaged-deals-to-negotiation", "e1:entered", 404)
    ]
    assert errors[0]["message"]
    assert [r["source_key"] for r in rows(duck, "writeback_ledger")] == ["e2:entered"]
    assert target.runner.counts["errors"] == 1


def test_dry_run_sends_nothing(
    sandbox: RunningSandbox, database: dict[str, str], unique: Callable[[str], str]
) -> None:
    records = [
        change("d1:entered", "slipping_subscribers", who=person("p1", f"{unique('g')}@x.org", "G")),
        change(
            "d2:entered", "repeat_customers", who=person("p2", None, "H", 3), row={"won_deals": 1}
        ),
    ]
    sandbox.control.reset_stats()
    states, target = run(config(sandbox, database, dry_run=True), messages(records))
    assert states == []  # no bookmark past changes that were only printed
    assert sandbox.control.stats()["requests"] == 0
    url = database["database_url"]
    if url.startswith("duckdb"):
        assert not Path(url.removeprefix("duckdb:///")).exists()  # no file, schema or table
    else:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": database["schema"]},
            )
            assert found.all() == []
        engine.dispose()
    # the upsert and the note are printed; the call has no Pipedrive person yet (skipped)
    assert target.runner.counts == {"dry_run": 2, "skipped": 1}


def test_a_paused_write_back_sends_nothing_and_the_changes_wait_for_it(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    who = person("p-paused", f"{unique('paused')}@x.org", "Pat")
    records = [change("paused:entered", "slipping_subscribers", who=who)]
    sandbox.control.reset_stats()
    states, target = run(config(sandbox, duck, enabled=False), messages(records))
    assert states == []  # tap-cdp's bookmark stays: the change waits
    assert sandbox.control.stats()["requests"] == 0  # not even the field definitions
    assert not Path(duck["database_url"].removeprefix("duckdb:///")).exists()
    assert target.runner.counts == {}
    states, _ = run(config(sandbox, duck), messages(records))  # on again: acted on
    assert states == [{"bookmark": "s1"}]
    [row] = [
        r for r in rows(duck, "writeback_ledger") if r["action"] == ACCEPTANCE_ACTIONS[0]["name"]
    ]
    assert row["status"] == "done"
    assert row["source_key"] == "paused:entered"


def test_records_after_the_last_state_are_acted_on_when_the_input_ends(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    """An input may end without a STATE (another tap, a hand-made file): the records held for
    the next batch are still acted on, and the ledger records them."""
    who = person("p-end", f"{unique('end')}@x.org", "Eve")
    records = [change("end:entered", "slipping_subscribers", who=who)]
    text = messages(records).rsplit("\n", 2)[0] + "\n"  # without its STATE line
    assert '"STATE"' not in text
    sandbox.control.reset_stats()
    states, target = run(config(sandbox, duck), text)
    assert states == []
    assert sandbox.control.stats()["requests"] > 0
    [row] = [
        r for r in rows(duck, "writeback_ledger") if r["action"] == ACCEPTANCE_ACTIONS[0]["name"]
    ]
    assert (row["source_key"], row["status"]) == ("end:entered", "done")
    assert target.runner.counts


def test_budget_stops_cleanly_and_the_next_run_continues(
    sandbox: RunningSandbox, duck: dict[str, str]
) -> None:
    people = [sandbox.control.create("persons", {"name": f"Budget {i}"}) for i in range(4)]
    records = [
        change(f"b{i}:entered", "slipping_subscribers", who=person(f"p{i}", None, f"B{i}", p["id"]))
        for i, p in enumerate(people)
    ]
    calls_only = {"actions": [ACCEPTANCE_ACTIONS[1]]}
    states, target = run(
        config(sandbox, duck, daily_token_budget=12, **calls_only), messages(records)
    )
    assert states == []  # no STATE past records that were not acted on
    assert target.stopped is not None
    assert [len(_activities_of(sandbox, p["id"])) for p in people] == [1, 1, 0, 0]
    assert {r["status"] for r in rows(duck, "writeback_ledger")} == {"done"}
    states, _ = run(config(sandbox, duck, **calls_only), messages(records))
    assert states == [{"bookmark": "s1"}]
    assert [len(_activities_of(sandbox, p["id"])) for p in people] == [1, 1, 1, 1]


def test_custom_fields_by_label_and_round_robin_owner(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    title = unique("Renewal")
    action = {
        "name": "renewal-deals",
        "when": {"audience": "repeat_customers"},
        "create": "deal",
        "fields": {
            "title": title + " {{ person.first_name }}",
            "value": "{{ row.value }}",
            "custom_fields": {
                "deal_source": "Partner",
                "products_of_interest": ["Core", "Analytics"],
            },
        },
        "owner": {"round_robin": [2, 3]},
    }
    records = [
        change(
            f"r{i}:entered",
            "repeat_customers",
            who=person(f"p{i}", None, f"R{i}"),
            row={"value": "12.5"},
        )
        for i in range(3)
    ]
    run(config(sandbox, duck, actions=[action]), messages(records))
    deals = sorted(
        (d for d in sandbox.control.dataset("deals") if d["title"].startswith(title)),
        key=lambda d: d["title"],
    )
    assert [(d["title"], d["owner_id"], d["value"]) for d in deals] == [
        (f"{title} R0", 2, 12.5),
        (f"{title} R1", 3, 12.5),
        (f"{title} R2", 2, 12.5),
    ]
    definitions = requests.get(
        f"{sandbox.base_url}/api/v2/dealFields",
        headers={"x-api-token": sandbox.api_token},
        timeout=10,
    ).json()["data"]
    by_name = {f["field_name"]: f for f in definitions}
    source, products = by_name["Deal source"], by_name["Products of interest"]
    option = {o["label"]: o["id"] for o in source["options"] + products["options"]}
    custom = deals[0]["custom_fields"]
    assert custom[source["field_code"]] == option["Partner"]
    assert sorted(custom[products["field_code"]]) == sorted([option["Core"], option["Analytics"]])
    # a rerun keeps each deal's owner (no update, nothing sent)
    sandbox.control.reset_stats()
    run(config(sandbox, duck, actions=[action]), messages(records))
    assert sandbox.control.stats()["requests"] == 1  # the dealFields read only


def test_organizations_person_updates_and_upsert_by_custom_field(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    company, code = unique("Acme"), unique("RG")
    org = next(o for o in sandbox.control.dataset("organizations", include_deleted=False))
    target_person = sandbox.control.create("persons", {"name": "Job Less"})
    actions = [
        {
            "name": "new-org",
            "when": {"audience": "types"},
            "create": "organization",
            "fields": {"name": "{{ row.company }}"},
        },
        {
            "name": "rename-org",
            "when": {"audience": "types"},
            "update": "organization",
            "match": {"id": "{{ row.org_id }}"},
            "fields": {"name": "{{ row.company }} Renamed"},
        },
        {
            "name": "job-title",
            "when": {"audience": "types"},
            "update": "person",
            "match": {"id": "{{ person.pipedrive_person_id }}"},
            "fields": {"job_title": "{{ row.title }}"},
        },
        {
            "name": "by-region",
            "when": {"audience": "types"},
            "upsert": "person",
            "match": {"region": "{{ row.region }}"},
            "fields": {"name": "Region {{ row.region }}"},
        },
    ]
    row = {"company": company, "org_id": org["id"], "title": "Buyer", "region": code}
    who = person("p1", None, "Jo", target_person["id"])
    settings = config(sandbox, duck, actions=actions)
    run(settings, messages([change("t1:entered", "types", who=who, row=row)]))
    created = [o for o in sandbox.control.dataset("organizations") if o["name"] == company]
    assert len(created) == 1
    assert sandbox.control.get("organizations", org["id"])["name"] == f"{company} Renamed"
    assert sandbox.control.get("persons", target_person["id"])["job_title"] == "Buyer"
    regional = [p for p in sandbox.control.dataset("persons") if p["name"] == f"Region {code}"]
    assert len(regional) == 1
    # another record with the same region finds that person (search) and updates it
    sandbox.control.reset_stats()
    run(settings, messages([change("t2:entered", "types", who=who, row=row)]))
    assert [
        p["id"] for p in sandbox.control.dataset("persons") if p["name"] == f"Region {code}"
    ] == [regional[0]["id"]]
    assert writes(sandbox)["GET /api/v2/persons/search"] == 1
    assert "POST /api/v2/persons" not in writes(sandbox)


def test_a_create_that_may_have_happened_keeps_its_intent_when_the_lookup_cannot_run(
    sandbox: RunningSandbox, duck: dict[str, str]
) -> None:
    buyer = sandbox.control.create("persons", {"name": "Uncertain Note"})
    records = [
        change(
            "u1:entered",
            "repeat_customers",
            who=person("p1", None, "U", buyer["id"]),
            row={"won_deals": 2},
        )
    ]
    notes_only = {"actions": [ACCEPTANCE_ACTIONS[2]]}
    sandbox.control.set_faults(
        server_error={"every": 1, "paths": ["/api/v1/notes"], "statuses": [500]}
    )
    try:
        # the POST answers 500; the lookup (20 tokens) does not fit what the budget has left
        states, target = run(
            config(sandbox, duck, daily_token_budget=15, **notes_only), messages(records)
        )
    finally:
        sandbox.control.clear_faults()
    assert states == []
    assert target.stopped is not None
    assert [(r["source_key"], r["status"]) for r in rows(duck, "writeback_ledger")] == [
        ("u1:entered", "intent")
    ]
    sandbox.control.reset_stats()
    states, _ = run(config(sandbox, duck, **notes_only), messages(records))
    assert states == [{"bookmark": "s1"}]
    assert len(_notes_of(sandbox, buyer["id"])) == 1
    assert writes(sandbox).get("GET /api/v1/notes") == 1  # looked up before creating


def test_skipped_records_are_stored_as_errors(
    sandbox: RunningSandbox, duck: dict[str, str]
) -> None:
    # a ledger made before skips were stored: writeback_errors.status NOT NULL
    engine = sa.create_engine(duck["database_url"])
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA cdp")
        conn.exec_driver_sql(
            "CREATE TABLE cdp.cdp.writeback_errors (action TEXT NOT NULL, source_key TEXT NOT NULL,"
            " status INTEGER NOT NULL, message TEXT NOT NULL,"
            " occurred_at TIMESTAMPTZ NOT NULL, run_id TEXT NOT NULL)"
        )
    engine.dispose()
    records = [
        change("s1:entered", "slipping_subscribers", who=person("p1", None, "S")),
        change(
            "s2:entered", "repeat_customers", who=person("p2", None, "T", 5), row={"won_deals": 1}
        ),
    ]
    bad_integer = {
        **ACCEPTANCE_ACTIONS[2],
        "fields": {"content": "x", "person_id": "{{ row.won_deals }}.5"},
    }
    actions = {"actions": [ACCEPTANCE_ACTIONS[1], bad_integer]}
    sandbox.control.reset_stats()
    states, target = run(config(sandbox, duck, **actions), messages(records))
    assert states == [{"bookmark": "s1"}]
    assert sandbox.control.stats()["requests"] == 0
    assert target.runner.counts == {"skipped": 2}
    errors = sorted(rows(duck, "writeback_errors"), key=lambda e: e["source_key"])
    assert [(e["action"], e["source_key"], e["status"]) for e in errors] == [
        ("call-slipping-subscribers", "s1:entered", None),
        ("note-repeat-customers", "s2:entered", None),
    ]
    assert "person_id rendered empty" in errors[0]["message"]
    assert "not an integer" in errors[1]["message"]
    assert rows(duck, "writeback_ledger") == []


class _Refusing:
    """A client whose every call Pipedrive refuses."""

    max_retries = 1

    def call(self, *_: Any, **__: Any) -> dict:
        raise Rejected(400, "bad request")


def test_an_intent_whose_lookup_is_refused_stops_the_run_and_stays(duck: dict[str, str]) -> None:
    action = parse_action(ACCEPTANCE_ACTIONS[2], 0)
    who = person("p1", None, "R", 5)
    record = change("r1:entered", "repeat_customers", who=who, row={"won_deals": 2})
    ledger = Ledger(duck["database_url"], "cdp", "r")
    ledger.write_intent(action.name, "r1:entered", "note", "old", {"body": {}}, (None, None))
    runner = Runner(_Refusing(), ledger, {})  # type: ignore[arg-type]
    with pytest.raises(UncertainOutcome, match="could not be looked up"):
        runner.run(action, "r1:entered", record, ("p1", None))
    ledger.dispose()
    assert [r["status"] for r in rows(duck, "writeback_ledger")] == ["intent"]


class _UnpacedClient:
    """What the runner asks of a client besides its calls, doing nothing: no pacing, no
    waiting between attempts."""

    def admit(self, cost: int) -> None:
        pass

    def backoff(self, attempt: int) -> None:
        pass


class _SecondCreateUncertain(_UnpacedClient):
    """A client whose first create succeeds and whose every later call may or may not have."""

    max_retries = 1

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0

    def call(self, method: str, *_: Any, **__: Any) -> dict:
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first and method == "POST":
            return {"data": {"id": 77}}
        raise UncertainOutcome("502 Bad Gateway")


def test_an_error_stop_keeps_the_ids_pipedrive_already_answered(duck: dict[str, str]) -> None:
    """One create of a batch fails for good: the run stops, and the create that succeeded
    is recorded ``done`` (its id committed), not left for the next run to find again."""
    action = parse_action(ACCEPTANCE_ACTIONS[2], 0)
    people = [person("p1", None, "A", 5), person("p2", None, "B", 6)]
    batch = [
        Record(
            f"e{i}:entered",
            change(f"e{i}:entered", "repeat_customers", who=who, row={"won_deals": 2}),
            (who["person_id"], None),
        )
        for i, who in enumerate(people, start=1)
    ]
    ledger = Ledger(duck["database_url"], "cdp", "e")
    runner = Runner(_SecondCreateUncertain(), ledger, {})  # type: ignore[arg-type]
    with pytest.raises(UncertainOutcome, match="may or may not have happened"):
        runner.run_batch(action, batch)
    ledger.engine.dispose()
    stored = {
        r["source_key"]: (r["status"], r["pipedrive_id"]) for r in rows(duck, "writeback_ledger")
    }
    assert sorted(stored.values(), key=str) == [("done", 77), ("intent", None)]


def test_changes_about_one_person_are_acted_on_in_their_order_across_actions(
    sandbox: RunningSandbox, duck: dict[str, str]
) -> None:
    """The person left the audience, then came back (a write-back that missed a sync): the
    action for the later change runs last, whatever the order the actions are listed in."""
    someone = sandbox.control.create("persons", {"name": "Order Test"})
    actions = [
        {
            "name": f"name-on-{event}",
            "when": {"audience": "slipping_subscribers", "event": event},
            "update": "person",
            "match": {"id": "{{ person.pipedrive_person_id }}"},
            "fields": {"name": event.title()},
        }
        for event in ("entered", "exited")
    ]
    who = person("p-order", None, "O", someone["id"])
    records = [
        change("o1:exited", "slipping_subscribers", who=who, event="exited"),
        change("o2:entered", "slipping_subscribers", who=who),
    ]
    states, _ = run(config(sandbox, duck, actions=actions), messages(records))
    assert states == [{"bookmark": "s1"}]
    assert sandbox.control.get("persons", someone["id"])["name"] == "Entered"


class _UncertainThenBudget(_UnpacedClient):
    """The create may have happened (502); the lookup finds nothing; the retried create is
    refused for the budget."""

    max_retries = 2

    def __init__(self) -> None:
        self.posts = 0

    def call(self, method: str, *_: Any, **__: Any) -> dict:
        if method == "GET":
            return {"data": []}
        self.posts += 1
        if self.posts == 1:
            raise UncertainOutcome("502 Bad Gateway")
        raise BudgetExhausted("daily token budget spent")


def test_a_retried_create_refused_for_the_budget_keeps_its_intent(duck: dict[str, str]) -> None:
    """The first attempt may have reached Pipedrive: whatever stops the retry, the intent
    stays, so the next run looks the object up before creating."""
    action = parse_action(ACCEPTANCE_ACTIONS[2], 0)
    who = person("p1", None, "R", 5)
    record = change("rb:entered", "repeat_customers", who=who, row={"won_deals": 2})
    ledger = Ledger(duck["database_url"], "cdp", "rb")
    runner = Runner(_UncertainThenBudget(), ledger, {})  # type: ignore[arg-type]
    with pytest.raises(BudgetExhausted):
        runner.run_batch(action, [Record("rb:entered", record, ("p1", None))])
    ledger.engine.dispose()
    assert [(r["source_key"], r["status"]) for r in rows(duck, "writeback_ledger")] == [
        ("rb:entered", "intent")
    ]
