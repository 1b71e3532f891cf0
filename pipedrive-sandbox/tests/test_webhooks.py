"""Webhooks: ``/v1/webhooks`` per the spec, v2 payloads for API and control changes (creates,
changes with ``previous``, deletes, merges, bulk edits), Basic auth, retries on the (shortened)
schedule, timeouts, the ban, and the control API's delivery report."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox
from sandbox_helpers import api_session
from spec_schema import Converter, problems, response_schema, validator
from webhook_recorder import Recorder, webhook_recorder

FAST = {"retry_delays": [0.2, 0.4, 0.6], "timeout": 1}


def subscribe(
    running: RunningSandbox,
    url: str,
    event_object: str = "*",
    event_action: str = "*",
    **extra: Any,
) -> dict[str, Any]:
    """Create a webhook through the API; its ``data``."""
    body = {
        "subscription_url": url,
        "event_action": event_action,
        "event_object": event_object,
        "name": f"test {event_object} {event_action}",
        "http_auth_user": "hook-user",
        "http_auth_password": "hook-password-123",
        **extra,
    }
    answer = api_session(running).post(f"{running.base_url}/v1/webhooks", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def spec_problems(method: str, path: str, status: str, body: Any) -> list[str]:
    converter = Converter("v1")
    schema = converter.convert(response_schema("v1", method, path, status))
    return problems(validator(schema), body, f"{method} {path} {status}")


def by_entity(recorder: Recorder, entity: str) -> list[dict[str, Any]]:
    return [b for b in recorder.bodies() if b["meta"]["entity"] == entity]


def test_webhook_operations_follow_the_spec(writable_sandbox: RunningSandbox) -> None:
    api = api_session(writable_sandbox)
    url = f"{writable_sandbox.base_url}/v1/webhooks"
    created = api.post(
        url,
        json={
            "subscription_url": "https://cdp.example.com/pipedrive",
            "event_action": "*",
            "event_object": "person",
            "name": "cdp person",
            "http_auth_user": "u",
            "http_auth_password": "p" * 16,
        },
        timeout=10,
    )
    assert created.status_code == 201
    assert spec_problems("POST", "/webhooks", "201", created.json()) == []
    hook = created.json()["data"]
    assert hook["version"] == "2.0"
    assert hook["is_active"] == 1
    assert hook["event_object"] == "person"
    listed = api.get(url, timeout=10)
    assert spec_problems("GET", "/webhooks", "200", listed.json()) == []
    assert [w["id"] for w in listed.json()["data"]] == [hook["id"]]
    deleted = api.delete(f"{url}/{hook['id']}", timeout=10)
    assert deleted.json() == {"status": "ok", "success": True}
    assert api.get(url, timeout=10).json()["data"] == []
    again = api.delete(f"{url}/{hook['id']}", timeout=10)
    assert again.status_code == 404
    assert again.json() == {"status": "error", "success": False, "errors": {"id": ["not found"]}}
    assert spec_problems("DELETE", "/webhooks/{id}", "404", again.json()) == []
    assert requests.get(url, timeout=10).status_code == 401


GOOD_BODY = {
    "subscription_url": "https://x.example/hook",
    "event_action": "*",
    "event_object": "deal",
    "name": "x",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subscription_url": None}, "subscription_url"),
        ({"subscription_url": "ftp://x"}, "subscription_url"),
        ({"event_action": "added"}, "event_action"),
        ({"event_object": "people"}, "event_object"),
        ({"name": None}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"version": "3.0"}, "version"),
        ({"user_id": 999}, "user_id"),
        ({"http_auth_password": 12345}, "http_auth_password"),
        ({"secret": 1}, "secret"),
    ],
)
def test_bad_webhook_bodies_name_the_field(
    sandbox: RunningSandbox, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in (GOOD_BODY | change).items() if v is not None}
    answer = api_session(sandbox).post(f"{sandbox.base_url}/v1/webhooks", json=body, timeout=10)
    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == [field]
    assert spec_problems("POST", "/webhooks", "400", answer.json()) == []


def test_a_user_may_own_forty_webhooks(writable_sandbox: RunningSandbox) -> None:
    for _ in range(40):
        subscribe(writable_sandbox, "https://cdp.example.com/hook")
    api = api_session(writable_sandbox)
    body = {
        "subscription_url": "https://cdp.example.com/hook",
        "event_action": "*",
        "event_object": "*",
        "name": "41st",
    }
    answer = api.post(f"{writable_sandbox.base_url}/v1/webhooks", json=body, timeout=10)
    assert answer.status_code == 422
    assert "40" in answer.json()["errors"]["user_id"][0]


def _typed_custom_values(running: RunningSandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """Custom field values (API v2 form) of an enum, a set and a monetary person field, and the
    typed wrappers a webhook carries for them."""
    fields = {
        f["field_type"]: f["key"]
        for f in reversed(running.control.info()["custom_fields"]["persons"])
    }
    people = running.control.dataset("persons")
    enum_id = next(
        p["custom_fields"][fields["enum"]] for p in people if p["custom_fields"][fields["enum"]]
    )
    set_ids = next(
        p["custom_fields"][fields["set"]] for p in people if p["custom_fields"][fields["set"]]
    )
    values = {
        fields["enum"]: enum_id,
        fields["set"]: set_ids,
        fields["monetary"]: {"value": 200, "currency": "EUR"},
    }
    wrapped = {
        fields["enum"]: {"type": "enum", "id": enum_id},
        fields["set"]: {"type": "set", "values": [{"id": i} for i in set_ids]},
        fields["monetary"]: {"type": "monetary", "value": 200, "currency": "EUR"},
    }
    return values, wrapped


def test_api_changes_deliver_v2_payloads_with_basic_auth(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    api = api_session(writable_sandbox)
    base = writable_sandbox.base_url
    values, wrapped = _typed_custom_values(writable_sandbox)
    with webhook_recorder() as recorder:
        hook = subscribe(writable_sandbox, recorder.url)
        created = api.post(
            f"{base}/api/v2/persons",
            json={"name": "Hook Person", "visible_to": 3, "custom_fields": values},
            timeout=10,
        ).json()["data"]
        control.advance_clock(60)
        api.patch(
            f"{base}/api/v2/persons/{created['id']}", json={"name": "Hook Renamed"}, timeout=10
        )
        control.advance_clock(60)
        api.delete(f"{base}/api/v2/persons/{created['id']}", timeout=10)
        report = control.wait_for_webhooks()
    create, change, delete = recorder.received
    expected_auth = "Basic " + base64.b64encode(b"hook-user:hook-password-123").decode()
    assert {r.headers["Authorization"] for r in recorder.received} == {expected_auth}
    assert {r.path for r in recorder.received} == {"/hooks"}
    for received, action in zip(
        (create, change, delete), ("create", "change", "delete"), strict=True
    ):
        meta = received.body["meta"]
        assert meta["action"] == action
        assert meta["entity"] == "person"
        assert meta["entity_id"] == str(created["id"])
        assert meta["webhook_id"] == str(hook["id"])
        assert meta["change_source"] == "api"
        assert meta["version"] == "2.0"
        assert meta["attempt"] == 1
        assert meta["is_bulk_edit"] is False
        assert all(
            isinstance(meta[k], str) for k in ("id", "company_id", "user_id", "webhook_owner_id")
        )
    assert len({r.body["meta"]["id"] for r in recorder.received}) == 3
    data = create.body["data"]
    assert create.body["previous"] is None
    assert data["name"] == "Hook Person"
    assert data["visible_to"] == "3"
    assert {k: data["custom_fields"][k] for k in wrapped} == wrapped
    assert change.body["data"]["name"] == "Hook Renamed"
    assert change.body["previous"] == {"name": "Hook Person", "update_time": created["update_time"]}
    assert delete.body["data"] is None
    assert delete.body["previous"]["name"] == "Hook Renamed"
    assert report["webhooks"][0]["delivered"] == 3
    assert report["webhooks"][0]["failed_attempts"] == 0
    listed = api.get(f"{base}/v1/webhooks", timeout=10).json()["data"][0]
    assert listed["last_http_status"] == 200
    assert listed["last_delivery_time"] is not None


def test_previous_holds_only_changed_custom_fields(writable_sandbox: RunningSandbox) -> None:
    values, wrapped = _typed_custom_values(writable_sandbox)
    control = writable_sandbox.control
    person = control.dataset("persons", include_deleted=False)[0]
    monetary_key = list(values)[2]
    with webhook_recorder() as recorder:
        subscribe(writable_sandbox, recorder.url, "person", "change")
        control.update(
            "persons", person["id"], {"custom_fields": {monetary_key: values[monetary_key]}}
        )
        control.wait_for_webhooks()
    (body,) = recorder.bodies()
    old = person["custom_fields"][monetary_key]
    old_wrapped = None if old is None else {"type": "monetary", **old}
    assert body["previous"]["custom_fields"] == {monetary_key: old_wrapped}
    assert body["data"]["custom_fields"][monetary_key] == wrapped[monetary_key]


def test_control_changes_come_from_the_app_and_bulk_edits_are_flagged(
    writable_sandbox: RunningSandbox,
) -> None:
    control = writable_sandbox.control
    live = [d for d in control.dataset("deals", include_deleted=False) if not d["is_archived"]]
    deals = [d["id"] for d in live[:3]]
    reasons = [d["lost_reason"] for d in live[:3]]
    with webhook_recorder() as recorder:
        subscribe(writable_sandbox, recorder.url, "deal")
        subscribe(writable_sandbox, recorder.url, "note", "create")
        control.update("deals", deals[0], {"title": "Single edit"})
        control.bulk_update("deals", deals, {"lost_reason": "bulk"})
        control.create("notes", {"content": "from the app", "deal_id": deals[0]})
        control.update("notes", 1, {"content": "not subscribed"})
        control.wait_for_webhooks()
    bodies = recorder.bodies()
    assert {b["meta"]["change_source"] for b in bodies} == {"app"}
    deal_events = by_entity(recorder, "deal")
    assert [(b["meta"]["entity_id"], b["meta"]["is_bulk_edit"]) for b in deal_events] == [
        (str(deals[0]), False),
        *[(str(d), True) for d in deals],
    ]
    assert [b["previous"].get("lost_reason") for b in deal_events[1:]] == reasons
    assert [b["data"]["lost_reason"] for b in deal_events[1:]] == ["bulk"] * 3
    (note,) = by_entity(recorder, "note")
    assert note["meta"]["action"] == "create"
    assert note["data"]["content"] == "from the app"
    assert note["data"]["active_flag"] is True


def test_merges_send_delete_with_merged_to_id_and_change_with_merged_from_id(
    writable_sandbox: RunningSandbox,
) -> None:
    control = writable_sandbox.control
    api = api_session(writable_sandbox)
    deals = control.dataset("deals", include_deleted=False)
    loser = next(d["person_id"] for d in deals if d["person_id"])
    survivor = next(
        p["id"] for p in control.dataset("persons", include_deleted=False) if p["id"] != loser
    )
    loser_deals = [d["id"] for d in deals if d["person_id"] == loser]
    with webhook_recorder() as recorder:
        subscribe(writable_sandbox, recorder.url)
        merged = api.put(
            f"{writable_sandbox.base_url}/v1/persons/{loser}/merge",
            json={"merge_with_id": survivor},
            timeout=10,
        )
        control.wait_for_webhooks()
    assert merged.status_code == 200, merged.text
    assert merged.json()["data"]["id"] == survivor
    persons = by_entity(recorder, "person")
    assert [(b["meta"]["action"], b["meta"]["entity_id"]) for b in persons] == [
        ("delete", str(loser)),
        ("change", str(survivor)),
    ]
    assert persons[0]["meta"]["merged_to_id"] == str(survivor)
    assert "merged_from_id" not in persons[0]["meta"]
    assert persons[1]["meta"]["merged_from_id"] == str(loser)
    assert "merged_to_id" not in persons[1]["meta"]
    moved = [b for b in by_entity(recorder, "deal") if b["meta"]["action"] == "change"]
    assert sorted(int(b["meta"]["entity_id"]) for b in moved) == sorted(loser_deals)
    assert all(b["data"]["person_id"] == survivor for b in moved)
    assert control.get("persons", loser)["is_deleted"] is True
    assert all(control.get("deals", d)["person_id"] == survivor for d in loser_deals)


def test_control_merges_organizations_as_the_app(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    first, second = (o["id"] for o in control.dataset("organizations", include_deleted=False)[:2])
    with webhook_recorder() as recorder:
        subscribe(writable_sandbox, recorder.url, "organization")
        control.merge("organizations", first, second)
        control.wait_for_webhooks()
    delete, change = recorder.bodies()
    assert (delete["meta"]["action"], delete["meta"]["merged_to_id"]) == ("delete", str(second))
    assert (change["meta"]["action"], change["meta"]["merged_from_id"]) == ("change", str(first))
    assert {delete["meta"]["change_source"], change["meta"]["change_source"]} == {"app"}


def test_failed_deliveries_are_retried_on_the_schedule(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    control.configure_webhooks(**FAST)
    with webhook_recorder(statuses=[500, 404]) as recorder:
        subscribe(writable_sandbox, recorder.url, "organization")
        control.update("organizations", 1, {"name": "Retried Org"})
        report = control.wait_for_webhooks()
    attempts = recorder.received
    assert [r.body["meta"]["attempt"] for r in attempts] == [1, 2, 3]
    assert len({r.body["meta"]["id"] for r in attempts}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    (hook,) = report["webhooks"]
    assert (hook["delivered"], hook["failed_attempts"], hook["given_up"]) == (1, 2, 0)
    assert [a["http_status"] for a in report["attempts"]] == [500, 404, 200]


def test_a_receiver_that_is_down_gets_four_attempts_then_nothing(
    writable_sandbox: RunningSandbox,
) -> None:
    control = writable_sandbox.control
    control.configure_webhooks(**FAST)
    with webhook_recorder(default_status=503) as recorder:
        subscribe(writable_sandbox, recorder.url, "organization")
        control.update("organizations", 1, {"name": "Never Delivered"})
        report = control.wait_for_webhooks()
    assert [r.body["meta"]["attempt"] for r in recorder.received] == [1, 2, 3, 4]
    (hook,) = report["webhooks"]
    assert (hook["delivered"], hook["failed_attempts"], hook["given_up"]) == (0, 4, 1)
    # No receiver listening at all: connection errors count the same.
    dead = subscribe(writable_sandbox, "http://127.0.0.1:9/nothing", "deal", "change")
    control.configure_webhooks(retry_delays=[0.05])
    control.update("deals", 1, {"title": "Nobody listens"})
    report = control.wait_for_webhooks()
    hook = next(w for w in report["webhooks"] if w["id"] == dead["id"])
    assert (hook["failed_attempts"], hook["given_up"]) == (2, 1)
    assert {a["error"] for a in report["attempts"] if a["webhook_id"] == dead["id"]} == {
        "ConnectionError"
    }


def test_a_slow_receiver_times_out_and_does_not_block_the_api(
    writable_sandbox: RunningSandbox,
) -> None:
    control = writable_sandbox.control
    control.configure_webhooks(retry_delays=[0.1], timeout=0.5)
    api = api_session(writable_sandbox)
    with webhook_recorder(delay=1.5) as recorder:
        subscribe(writable_sandbox, recorder.url, "deal")
        started = time.monotonic()
        answer = api.patch(
            f"{writable_sandbox.base_url}/api/v2/deals/1", json={"title": "Slow hook"}, timeout=10
        )
        elapsed = time.monotonic() - started
        report = control.wait_for_webhooks()
    assert answer.status_code == 200
    assert elapsed < 0.5
    assert [a["error"] for a in report["attempts"]] == ["timeout", "timeout"]
    assert report["webhooks"][0]["given_up"] == 1
    assert len(recorder.received) == 2


def test_consecutive_first_try_failures_ban_the_webhook(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    control.configure_webhooks(retry_delays=[], ban_after=3, ban_seconds=60)
    api = api_session(writable_sandbox)
    with webhook_recorder(statuses=[500, 500, 500]) as recorder:
        hook = subscribe(writable_sandbox, recorder.url, "organization")
        for n in range(3):
            control.update("organizations", 1, {"name": f"Failing {n}"})
            control.wait_for_webhooks()
        control.update("organizations", 1, {"name": "While banned"})
        report = control.wait_for_webhooks()
        listed = api.get(f"{writable_sandbox.base_url}/v1/webhooks", timeout=10).json()["data"]
        assert listed[0]["is_active"] == 0
        (state,) = report["webhooks"]
        assert state["banned"] is True
        assert state["dropped_while_banned"] == 1
        assert len(recorder.received) == 3
        control.configure_webhooks(ban_seconds=60)  # a new ban length lifts current bans
        control.update("organizations", 1, {"name": "After the ban"})
        control.wait_for_webhooks()
    assert recorder.bodies()[-1]["data"]["name"] == "After the ban"
    assert hook["id"] == state["id"]


def test_only_matching_webhooks_receive_events(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    with webhook_recorder() as deletes, webhook_recorder() as everything:
        subscribe(writable_sandbox, deletes.url, "deal", "delete")
        subscribe(writable_sandbox, everything.url, "*", "*")
        gone = subscribe(writable_sandbox, everything.url, "deal", "*")
        api_session(writable_sandbox).delete(
            f"{writable_sandbox.base_url}/v1/webhooks/{gone['id']}", timeout=10
        )
        control.update("deals", 2, {"title": "changed"})
        control.delete("deals", 2)
        control.update("activities", 1, {"subject": "changed"})
        control.wait_for_webhooks()
    assert [(b["meta"]["entity"], b["meta"]["action"]) for b in deletes.bodies()] == [
        ("deal", "delete")
    ]
    assert [(b["meta"]["entity"], b["meta"]["action"]) for b in everything.bodies()] == [
        ("deal", "change"),
        ("deal", "delete"),
        ("activity", "change"),
    ]
    activity = everything.bodies()[2]["data"]
    assert (activity["active_flag"], activity["busy_flag"]) == (True, activity["busy"])


@pytest.mark.parametrize(
    "body",
    [
        {"retry_delays": "3,30"},
        {"retry_delays": [-1]},
        {"timeout": 0},
        {"ban_after": 0},
        {"retry": [1]},
    ],
)
def test_bad_delivery_settings_are_refused(sandbox: RunningSandbox, body: dict[str, Any]) -> None:
    answer = requests.post(f"{sandbox.base_url}/_sandbox/webhooks/config", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["ok"] is False
    assert sandbox.control.webhooks()["config"]["retry_delays"] == [3.0, 30.0, 150.0]


@pytest.mark.parametrize("kind", ["persons", "organizations"])
def test_merge_answers_match_the_spec(writable_sandbox: RunningSandbox, kind: str) -> None:
    api = api_session(writable_sandbox)
    first, second, third = (
        r["id"] for r in writable_sandbox.control.dataset(kind, include_deleted=False)[:3]
    )
    url = f"{writable_sandbox.base_url}/v1/{kind}"
    answer = api.put(f"{url}/{first}/merge", json={"merge_with_id": second}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["data"]["id"] == second
    converter = Converter("v1", custom_key_objects={"data"})
    schema = converter.convert(response_schema("v1", "PUT", f"/{kind}/{{id}}/merge"))
    assert problems(validator(schema), answer.json(), f"PUT /v1/{kind}/{{id}}/merge") == []
    refused = [
        api.put(f"{url}/{third}/merge", json={}, timeout=10),
        api.put(f"{url}/{third}/merge", json={"merge_with_id": "2"}, timeout=10),
        api.put(f"{url}/{third}/merge", json={"merge_with_id": third}, timeout=10),
        api.put(f"{url}/{third}/merge", json={"merge_with_id": second, "x": 1}, timeout=10),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400, 400]
    assert all("merge_with_id" in r.json()["error"] for r in refused)
    gone = api.put(f"{url}/{third}/merge", json={"merge_with_id": first}, timeout=10)
    assert gone.status_code == 404
    assert writable_sandbox.control.get(kind, third)["is_deleted"] is False
