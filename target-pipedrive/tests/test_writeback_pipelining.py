"""Calls of different records overlap; the exactly-once guarantee holds with several in flight:
a batch's intents are committed before its calls, every intent a crash leaves is looked up, and
calls touching the same person or row keep the records' order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import writeback_helpers as wb
from pipedrive_sandbox.testing import RunningSandbox
from target_pipedrive.actions import parse_action
from target_pipedrive.ledger import Ledger
from target_pipedrive.runner import Record, Runner

CALLS = {"actions": [wb.ACCEPTANCE_ACTIONS[1]]}


class _SlowClient:
    """Answers each create after a pause; notes how many calls were under way at once and what
    the ledger held when the first call went."""

    max_retries = 1

    def __init__(self, database: dict[str, str]) -> None:
        self.database = database
        self.lock = threading.Lock()
        self.under_way = 0
        self.most_under_way = 0
        self.ledger_at_first_call: list[tuple[str, str]] | None = None
        self.next_id = 100

    def admit(self, cost: int) -> None:
        pass

    def call(self, *_: Any, **__: Any) -> dict[str, Any]:
        with self.lock:
            if self.ledger_at_first_call is None:
                found = wb.rows(self.database, "writeback_ledger")
                self.ledger_at_first_call = sorted((r["source_key"], r["status"]) for r in found)
            self.under_way += 1
            self.most_under_way = max(self.most_under_way, self.under_way)
            self.next_id += 1
            made = self.next_id
        time.sleep(0.2)
        with self.lock:
            self.under_way -= 1
        return {"data": {"id": made}}


def test_a_batch_commits_its_intents_then_overlaps_its_calls(duck: dict[str, str]) -> None:
    action = parse_action(wb.ACCEPTANCE_ACTIONS[1], 0)
    records = [
        Record(
            f"k{i}:entered",
            wb.change(f"k{i}:entered", "x", who=wb.person(f"p{i}", None, "K", i + 1)),
            (f"p{i}", None),
        )
        for i in range(8)
    ]
    client = _SlowClient(duck)
    ledger = Ledger(duck["database_url"], "cdp", "r")
    runner = Runner(client, ledger, {})  # type: ignore[arg-type]
    produced = runner.run_batch(action, records)
    runner.close()
    ledger.dispose()
    assert client.ledger_at_first_call == [(f"k{i}:entered", "intent") for i in range(8)]
    assert client.most_under_way == 4  # the pool's size
    assert sorted(produced) == list(range(101, 109))  # type: ignore[type-var]
    found = {
        r["source_key"]: (r["status"], r["pipedrive_id"]) for r in wb.rows(duck, "writeback_ledger")
    }
    assert found == {r.source_key: ("done", pid) for r, pid in zip(records, produced, strict=True)}


def test_every_intent_a_crash_leaves_in_flight_is_found_on_the_rerun(
    sandbox: RunningSandbox,
    database: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people = [sandbox.control.create("persons", {"name": f"In Flight {i}"}) for i in range(5)]
    records = [
        wb.change(
            f"f{i}:entered", "slipping_subscribers", who=wb.person(f"p{i}", None, "F", p["id"])
        )
        for i, p in enumerate(people)
    ]

    def crash(*_: Any) -> None:
        raise KeyboardInterrupt  # killed once every call of the batch was answered

    real_done = Ledger.write_done
    monkeypatch.setattr(Ledger, "write_done", crash)
    with pytest.raises(KeyboardInterrupt):
        wb.run(wb.config(sandbox, database, **CALLS), wb.messages(records))
    monkeypatch.setattr(Ledger, "write_done", real_done)
    activities = sandbox.control.dataset("activities", include_deleted=False)
    made = {p["id"]: [a for a in activities if a.get("person_id") == p["id"]] for p in people}
    assert [len(found) for found in made.values()] == [1] * 5
    assert {r["status"] for r in wb.rows(database, "writeback_ledger")} == {"intent"}

    sandbox.control.reset_stats()
    states, target = wb.run(wb.config(sandbox, database, **CALLS), wb.messages(records))
    assert states == [{"bookmark": "s1"}]
    assert wb.writes(sandbox) == {"GET /api/v2/activities": 5}  # looked up; nothing sent again
    assert target.runner.counts == {"recovered": 5}
    ledger = {
        r["source_key"]: (r["status"], r["pipedrive_id"])
        for r in wb.rows(database, "writeback_ledger")
    }
    assert ledger == {
        f"f{i}:entered": ("done", made[p["id"]][0]["id"]) for i, p in enumerate(people)
    }


def test_records_of_one_batch_matching_the_same_person_keep_their_order(
    sandbox: RunningSandbox, duck: dict[str, str], unique: Callable[[str], str]
) -> None:
    email = f"{unique('twice')}@example.org"
    records = [
        wb.change("t1:entered", "slipping_subscribers", who=wb.person("p1", email, "First")),
        wb.change("t2:entered", "slipping_subscribers", who=wb.person("p2", email, "Second")),
    ]
    upserts = {"actions": [wb.ACCEPTANCE_ACTIONS[0]]}
    wb.run(wb.config(sandbox, duck, **upserts), wb.messages(records))
    found = [
        p
        for p in sandbox.control.dataset("persons", include_deleted=False)
        if any(e["value"] == email for e in p["emails"])
    ]
    assert [p["name"] for p in found] == ["Second Tester"]  # created by the first, then updated
