"""End to end: the sandbox delivers webhooks like Pipedrive into the real receiver's spool.

``pipedrive-webhooks register`` subscribes against the sandbox's ``/v1/webhooks``; changes made
through the REST API and the control API (creates, changes, deletes, a merge, a bulk edit)
arrive in the spool once each, with Basic auth; a receiver that is down gets the event on a
retry after it comes back.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from pipedrive_webhooks import Spool
from webhooks_helpers import free_port, receiver_env, start_receiver

OBJECTS = "activity,deal,note,organization,person"


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A small sandbox with a frozen clock and no rate limits."""
    with start_sandbox(seed=5, scale=300, burst_limit=0, daily_budget=0, frozen_clock=True) as s:
        yield s


def register(tmp_path: Path, sandbox: RunningSandbox, public_url: str) -> None:
    """Run the receiver's own ``register`` against the sandbox."""
    env = receiver_env(
        f"{tmp_path}/spool.sqlite",
        public_url=public_url,
        api_token=sandbox.api_token,
        api_url=sandbox.base_url,
        objects=OBJECTS,
    )
    done = subprocess.run(
        [sys.executable, "-m", "pipedrive_webhooks", "register"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def spooled(spool: Spool) -> list[tuple[str, str, str]]:
    return [(e.entity, e.action, e.entity_id) for e in spool.read_after(0)]


def api(sandbox: RunningSandbox) -> requests.Session:
    session = requests.Session()
    session.headers["x-api-token"] = sandbox.api_token
    return session


def test_changes_reach_the_spool_once_each(tmp_path: Path, sandbox: RunningSandbox) -> None:
    spool_url = f"{tmp_path}/spool.sqlite"
    receiver = start_receiver(tmp_path, spool_url)
    try:
        register(tmp_path, sandbox, f"{receiver.url}/pipedrive")
        hooks = api(sandbox).get(f"{sandbox.base_url}/v1/webhooks", timeout=10).json()["data"]
        assert sorted(h["event_object"] for h in hooks) == sorted(OBJECTS.split(","))
        control = sandbox.control
        base = sandbox.base_url
        person = (
            api(sandbox)
            .post(f"{base}/api/v2/persons", json={"name": "Spooled Person"}, timeout=10)
            .json()["data"]
        )
        api(sandbox).patch(
            f"{base}/api/v2/persons/{person['id']}", json={"name": "Spooled Renamed"}, timeout=10
        )
        orgs = [o["id"] for o in control.dataset("organizations", include_deleted=False)[:4]]
        control.merge("organizations", orgs[0], orgs[1])
        control.bulk_update("organizations", orgs[2:], {"website": "https://bulk.example"})
        control.delete("persons", person["id"])
        report = control.wait_for_webhooks(timeout=60)
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=30)
    assert all(w["failed_attempts"] == 0 for w in report["webhooks"]), report["webhooks"]
    spool = Spool(spool_url)
    events = spool.read_after(0)
    assert len({e.event_id for e in events}) == len(events)
    rows = spooled(spool)
    pid = str(person["id"])
    assert [r for r in rows if r[0] == "person" and r[2] == pid] == [
        ("person", "create", pid),
        ("person", "change", pid),
        ("person", "delete", pid),
    ]
    org_rows = [r for r in rows if r[0] == "organization"]
    assert org_rows == [
        ("organization", "delete", str(orgs[0])),
        ("organization", "change", str(orgs[1])),
        ("organization", "change", str(orgs[2])),
        ("organization", "change", str(orgs[3])),
    ]
    by_id = {(e.entity, e.action, e.entity_id): e.payload for e in events}
    merged = by_id[("organization", "delete", str(orgs[0]))]["meta"]
    assert merged["merged_to_id"] == str(orgs[1])
    bulk = by_id[("organization", "change", str(orgs[3]))]
    assert bulk["meta"]["is_bulk_edit"] is True
    assert bulk["meta"]["change_source"] == "app"
    assert bulk["data"]["website"] == "https://bulk.example"
    assert by_id[("person", "create", pid)]["meta"]["change_source"] == "api"
    assert spool.status().dead_letters == 0


def test_a_receiver_that_was_down_gets_the_event_on_a_retry(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    spool_url = f"{tmp_path}/spool.sqlite"
    port = free_port()
    receiver = start_receiver(tmp_path, spool_url, port=port)
    register(tmp_path, sandbox, f"{receiver.url}/pipedrive")
    receiver.process.terminate()
    receiver.process.wait(timeout=30)
    control = sandbox.control
    control.configure_webhooks(retry_delays=[0.1, 15, 30], timeout=5)
    deal = control.dataset("deals", include_deleted=False)[0]["id"]
    control.update("deals", deal, {"title": "Sent while the receiver was down"})
    receiver = start_receiver(tmp_path, spool_url, port=port)
    try:
        report = control.wait_for_webhooks(timeout=90)
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=30)
    (event,) = Spool(spool_url).read_after(0)
    assert (event.entity, event.action, event.entity_id) == ("deal", "change", str(deal))
    assert event.payload["meta"]["attempt"] >= 2
    assert event.payload["data"]["title"] == "Sent while the receiver was down"
    hook = next(w for w in report["webhooks"] if w["event_object"] == "deal")
    assert hook["delivered"] == 1
    assert hook["failed_attempts"] == event.payload["meta"]["attempt"] - 1
    assert hook["given_up"] == 0


def test_wrong_credentials_are_refused_and_never_spooled(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    spool_url = f"{tmp_path}/spool.sqlite"
    receiver = start_receiver(tmp_path, spool_url)
    body: dict[str, Any] = {
        "subscription_url": f"{receiver.url}/pipedrive",
        "event_action": "*",
        "event_object": "note",
        "name": "wrong password",
        "http_auth_user": "pipedrive",
        "http_auth_password": "not-the-password",
    }
    try:
        api(sandbox).post(f"{sandbox.base_url}/v1/webhooks", json=body, timeout=10)
        sandbox.control.configure_webhooks(retry_delays=[0.1])
        sandbox.control.update("notes", 1, {"content": "refused"})
        report = sandbox.control.wait_for_webhooks(timeout=60)
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=30)
    assert [a["http_status"] for a in report["attempts"]] == [401, 401]
    assert report["webhooks"][0]["given_up"] == 1
    assert Spool(spool_url).read_after(0) == []
