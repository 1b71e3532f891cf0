"""The webhook receiver on the details panel (pipedrive-webhooks' own status) and Disconnect
unregistering its webhooks from the sandbox's /v1/webhooks, every CDP row kept."""

from __future__ import annotations

import html
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from view_helpers import BIN, View, make_project, query, serve, view_env

HOOK_URL = "http://127.0.0.1:9/pipedrive"
HOOK_PASSWORD = "hook-pw-8c1f2e77"
ROWS_SQL = (
    "select (select count(*) from cdp.people) as people, "
    "(select count(*) from cdp.activities) as activities"
)


def sandbox_hooks(sandbox: Any) -> list[dict[str, Any]]:
    """The sandbox's webhooks that deliver to the receiver."""
    answer = httpx.get(
        f"{sandbox.base_url}/api/v1/webhooks", headers={"x-api-token": sandbox.api_token}
    )
    answer.raise_for_status()
    return [h for h in answer.json()["data"] or [] if h["subscription_url"] == HOOK_URL]


@pytest.fixture(scope="module")
def receiver_view(
    tmp_path_factory: pytest.TempPathFactory, duckdb_url: str, sandbox: Any
) -> Iterator[View]:
    """A view whose pipedrive-webhooks is configured (settings as Meltano reads them from the
    environment), its webhooks registered in the sandbox by the receiver's own register."""
    project = make_project(tmp_path_factory.mktemp("project-receiver"))
    settings = {
        "PIPEDRIVE_WEBHOOKS_API_URL": sandbox.base_url,
        "PIPEDRIVE_WEBHOOKS_API_TOKEN": sandbox.api_token,
        "PIPEDRIVE_WEBHOOKS_PUBLIC_URL": HOOK_URL,
        "PIPEDRIVE_WEBHOOKS_SPOOL_URL": str(project / "spool.sqlite"),
        "PIPEDRIVE_WEBHOOKS_AUTH_USER": "cdp",
        "PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD": HOOK_PASSWORD,
    }
    registered = subprocess.run(
        [str(BIN / "pipedrive-webhooks"), "register"],
        env=view_env(project, settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert registered.returncode == 0, registered.stderr
    env = {"TARGET_CDP_DATABASE_URL": duckdb_url, **settings}
    with serve(project, "dev", env) as view:
        yield view


def receiver_text(client: httpx.Client, expected: str) -> tuple[str, str]:
    """The receiver status once the details panel shows ``expected`` in it (checked in the
    background), and the whole page."""
    deadline = time.monotonic() + 180
    while True:
        page = client.get("/").text
        found = re.search(r'id="receiver"><pre class="(\w+)">(.*?)</pre>', page, re.DOTALL)
        if found and expected in html.unescape(found[2]):
            assert found[1] == "ok", found[2]
            return html.unescape(found[2]), page
        assert time.monotonic() < deadline, page[-3000:]
        time.sleep(0.5)


def test_receiver_status_then_disconnect_unregisters_and_keeps_rows(
    receiver_view: View, sandbox: Any, duckdb_url: str
) -> None:
    registered = sandbox_hooks(sandbox)
    assert registered, "register made the subscriptions"
    with receiver_view.client() as client:
        status, page = receiver_text(client, f"Subscriptions delivering to {HOOK_URL}:")
        for hook in registered:
            assert f"#{hook['id']} " in status
        assert "Spool: " in status
        assert HOOK_PASSWORD not in page
        assert sandbox.api_token not in page

        (rows_before,) = query(duckdb_url, ROWS_SQL)
        answer = client.post("/disconnect", data={"csrf_token": client.cookies["cdp_view_csrf"]})
        assert answer.status_code == 303, answer.text[-2000:]
        assert answer.headers["location"] == "/?notice=disconnected_webhooks"
        assert sandbox_hooks(sandbox) == []
        status, _ = receiver_text(client, f"Subscriptions delivering to {HOOK_URL}:\n  none")
        assert f"#{registered[0]['id']} " not in status
    schedules = {
        s["name"]: s["interval"] for s in yaml.safe_load(receiver_view.meltano_yml())["schedules"]
    }
    assert schedules["sync-cdp-every-15-minutes"] == "@manual"  # the one running the tap
    (rows_after,) = query(duckdb_url, ROWS_SQL)
    assert rows_after == rows_before
