"""register / unregister / status against a scripted Pipedrive ``/v1/webhooks`` that follows
the spec (POST bodies are validated against SPEC v1 ``addWebhookRequest``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pipedrive_webhooks.cli import main
from pipedrive_webhooks.payload import parse_delivery
from pipedrive_webhooks.spool import Spool, utc_now
from pipedrive_webhooks.subscriptions import DEFAULT_OBJECTS
from webhooks_helpers import (
    API_TOKEN,
    PASSWORD,
    USER,
    FakeWebhooksApi,
    delivery,
    fake_webhooks_api,
)

PUBLIC_URL = "https://cdp.example.com/pipedrive"


@pytest.fixture
def api() -> Iterator[FakeWebhooksApi]:
    with fake_webhooks_api() as api:
        yield api


def run(command: str, api: FakeWebhooksApi, tmp_path: Path, **settings: Any) -> Result:
    env = {
        "PIPEDRIVE_WEBHOOKS_PUBLIC_URL": PUBLIC_URL,
        "PIPEDRIVE_WEBHOOKS_AUTH_USER": USER,
        "PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD": PASSWORD,
        "PIPEDRIVE_WEBHOOKS_API_TOKEN": API_TOKEN,
        "PIPEDRIVE_WEBHOOKS_API_URL": api.url,
        "PIPEDRIVE_WEBHOOKS_SPOOL_URL": str(tmp_path / "spool.sqlite"),
    }
    env.update({f"PIPEDRIVE_WEBHOOKS_{k.upper()}": v for k, v in settings.items()})
    return CliRunner().invoke(main, [command], env=env)


def secrets_absent(text: str) -> None:
    assert PASSWORD not in text
    assert API_TOKEN not in text


def hook(api: FakeWebhooksApi, **fields: Any) -> dict[str, Any]:
    api.next_id += 1
    base = {
        "id": api.next_id,
        "event_action": "*",
        "event_object": "person",
        "subscription_url": PUBLIC_URL,
        "version": "2.0",
        "is_active": 1,
        "http_auth_user": USER,
        "http_auth_password": PASSWORD,
        "user_id": 5,
        "name": "x",
    }
    return {**base, **fields}


def test_register_creates_one_v2_subscription_per_synced_object(
    api: FakeWebhooksApi, tmp_path: Path
) -> None:
    result = run("register", api, tmp_path)
    assert result.exit_code == 0, result.output
    posts = [body for _, _, _, body in api.calls("POST")]
    assert api.invalid == []
    assert sorted(body["event_object"] for body in posts) == sorted(DEFAULT_OBJECTS)
    for body in posts:
        assert body["subscription_url"] == PUBLIC_URL
        assert (body["event_action"], body["version"]) == ("*", "2.0")
        assert (body["http_auth_user"], body["http_auth_password"]) == (USER, PASSWORD)
    assert all(headers["x-api-token"] == API_TOKEN for _, _, headers, _ in api.requests)
    assert [path for method, path, _, _ in api.requests if method == "GET"] == ["/api/v1/webhooks"]
    assert "8 subscription(s) deliver to https://cdp.example.com/pipedrive" in result.output
    secrets_absent(result.output)


def test_register_twice_creates_nothing_the_second_time(
    api: FakeWebhooksApi, tmp_path: Path
) -> None:
    assert run("register", api, tmp_path).exit_code == 0
    before = list(api.webhooks)
    api.requests.clear()
    result = run("register", api, tmp_path)
    assert result.exit_code == 0, result.output
    assert api.calls("POST") == []
    assert api.calls("DELETE") == []
    assert api.webhooks == before
    assert result.output.count("kept #") == len(DEFAULT_OBJECTS)


def test_register_replaces_stale_subscriptions_and_leaves_others_alone(
    api: FakeWebhooksApi, tmp_path: Path
) -> None:
    good = hook(api, event_object="deal")
    api.webhooks = [
        good,
        hook(api, event_object="deal"),  # a duplicate
        hook(api, event_object="person", version="1.0"),
        hook(api, event_object="note", is_active=0),  # banned or deactivated
        hook(api, event_object="activity", http_auth_user="old-user"),
        hook(api, event_object="organization", http_auth_password="old-password-xyz"),
        hook(api, event_object="*"),
        hook(api, event_object="person", subscription_url="https://other.example.com/hook"),
    ]
    foreign = api.webhooks[-1]
    result = run("register", api, tmp_path, objects="deal,person,note,activity,organization")
    assert result.exit_code == 0, result.output
    assert api.invalid == []
    mine = [h for h in api.webhooks if h["subscription_url"] == PUBLIC_URL]
    assert sorted(h["event_object"] for h in mine) == [
        "activity",
        "deal",
        "note",
        "organization",
        "person",
    ]
    assert good in mine
    assert all(h["version"] == "2.0" and h["is_active"] == 1 for h in mine)
    assert foreign in api.webhooks
    assert len(api.calls("DELETE")) == 6
    secrets_absent(result.output)


def test_register_can_subscribe_as_an_admin_user(api: FakeWebhooksApi, tmp_path: Path) -> None:
    result = run("register", api, tmp_path, objects='["deal"]', user_id="9")
    assert result.exit_code == 0, result.output
    [(_, _, _, body)] = api.calls("POST")
    assert (body["event_object"], body["user_id"]) == ("deal", 9)
    assert api.invalid == []


def test_unregister_removes_ours_only(api: FakeWebhooksApi, tmp_path: Path) -> None:
    run("register", api, tmp_path)
    foreign = hook(api, subscription_url="https://other.example.com/hook")
    api.webhooks.append(foreign)
    result = run("unregister", api, tmp_path)
    assert result.exit_code == 0, result.output
    assert api.webhooks == [foreign]
    assert len(api.calls("DELETE")) == len(DEFAULT_OBJECTS)
    assert run("unregister", api, tmp_path).exit_code == 0  # nothing left: no error


def test_status_shows_subscriptions_spool_and_runs_without_secrets(
    api: FakeWebhooksApi, tmp_path: Path
) -> None:
    run("register", api, tmp_path, objects="deal,person")
    api.webhooks[0].update(last_delivery_time="2026-12-01T09:00:00.000Z", last_http_status=200)
    spool = Spool(str(tmp_path / "spool.sqlite"))
    spool.append(
        [parse_delivery(json.dumps(delivery("ev-9", entity="deal", entity_id="42")).encode())],
        utc_now(),
    )
    run_record = spool.begin_run("1 new webhook event(s)")
    spool.finish_run(run_record.run_id, 0)
    spool.close()
    result = run("status", api, tmp_path, objects="deal,person,note")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "events: 1 (position 1); backlog: 1 after applied position 0" in out
    assert "last event: #1 change deal 42 (meta.id ev-9)" in out
    assert f"last run: #{run_record.run_id} (1 new webhook event(s))" in out
    assert "exit code 0" in out
    assert "Apply job: meltano run tap-pipedrive-live target-cdp" in out
    assert "Safety net for events missed while the receiver was down: the scheduled job" in out
    assert "*.deal version 2.0 active, last delivery 2026-12-01T09:00:00.000Z (HTTP 200)" in out
    assert "missing: note (run register)" in out
    secrets_absent(out)


def test_status_without_credentials_shows_the_spool_only(
    api: FakeWebhooksApi, tmp_path: Path
) -> None:
    result = run("status", api, tmp_path, api_token="")
    assert result.exit_code == 0, result.output
    assert "Subscriptions: not checked" in result.output
    assert api.requests == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            (401, {"success": False, "error": "unauthorized access", "errorCode": 401}),
            "Pipedrive rejected the api_token (HTTP 401 for GET /api/v1/webhooks); check the "
            "credentials",
        ),
        (
            (403, {"success": False, "message": "Forbidden"}),
            "Pipedrive refused GET /api/v1/webhooks (HTTP 403: Forbidden); managing webhooks "
            "needs an admin user's api_token or an OAuth app with the admin scope",
        ),
        (
            (500, {"success": False, "error": f"internal {API_TOKEN}"}),
            "Pipedrive answered HTTP 500 for GET /api/v1/webhooks: internal ***",
        ),
    ],
)
def test_api_errors_are_one_line_without_secrets(
    api: FakeWebhooksApi, tmp_path: Path, failure: tuple[int, Any], expected: str
) -> None:
    api.fail[("GET", "/api/v1/webhooks")] = failure
    result = run("register", api, tmp_path)
    assert result.exit_code == 1
    assert result.output == f"pipedrive-webhooks: {expected}\n"


def test_a_refused_creation_names_pipedrives_reason(api: FakeWebhooksApi, tmp_path: Path) -> None:
    api.fail[("POST", "/api/v1/webhooks")] = (
        400,
        {
            "status": "error",
            "success": False,
            "errors": {"subscription_url": ["invalid or non-reachable URL"]},
        },
    )
    result = run("register", api, tmp_path)
    assert result.exit_code == 1
    assert result.output == (
        "pipedrive-webhooks: Pipedrive answered HTTP 400 for POST /api/v1/webhooks: "
        "subscription_url: invalid or non-reachable URL\n"
    )


def test_a_redirect_is_not_followed_with_the_token(api: FakeWebhooksApi, tmp_path: Path) -> None:
    with fake_webhooks_api() as elsewhere:
        api.fail[("GET", "/api/v1/webhooks")] = (
            302,
            {},
            {"Location": f"{elsewhere.url}/api/v1/webhooks"},
        )
        result = run("register", api, tmp_path)
    assert result.exit_code == 1
    assert result.output == (
        f"pipedrive-webhooks: Pipedrive redirected GET /api/v1/webhooks to "
        f"{elsewhere.url.removeprefix('http://')} (HTTP 302); the credentials are not sent after "
        "a redirect: set api_url to the address that answers directly\n"
    )
    assert elsewhere.requests == []


def test_an_unreachable_api_is_one_line(api: FakeWebhooksApi, tmp_path: Path) -> None:
    result = run("register", api, tmp_path, api_url="http://127.0.0.1:9/")  # nothing listens
    assert result.exit_code == 1
    assert result.output.startswith("pipedrive-webhooks: could not reach Pipedrive for GET")
    secrets_absent(result.output)


def test_register_with_oauth_uses_the_tap_s_refresh_flow(
    api: FakeWebhooksApi, tmp_path: Path
) -> None:
    api.oauth = {"access_token": "acc-123", "refresh_token": "ref-1", "api_domain": api.url}
    result = run(
        "register",
        api,
        tmp_path,
        api_token="",
        api_url="",
        client_id="cid",
        client_secret="csecret-value",
        refresh_token="ref-1",
        oauth_token_url=f"{api.url}/oauth/token",
        objects="deal",
    )
    assert result.exit_code == 0, result.output
    token_call, *calls = api.requests
    assert token_call[1] == "/oauth/token"
    assert token_call[3]["grant_type"] == "refresh_token"
    assert [call[2]["authorization"] for call in calls] == ["Bearer acc-123"] * 2
    assert "csecret-value" not in result.output


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"auth_password": ""},
            "invalid configuration: auth_password (--auth-password or "
            "PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD) is not set",
        ),
        ({"auth_password": "short"}, "auth_password is shorter than 12 characters"),
        ({"objects": "deal,invoice"}, "objects: unknown webhook object(s) invoice; Pipedrive has"),
        ({"public_url": "cdp.example.com"}, "public_url 'cdp.example.com' must be a full URL"),
        ({"public_url": f"https://u:{PASSWORD}@cdp.example.com"}, "must not contain credentials"),
        ({"api_token": ""}, "invalid Pipedrive settings: missing credentials: set api_token"),
    ],
)
def test_bad_settings_are_one_line_before_any_request(
    api: FakeWebhooksApi, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    result = run("register", api, tmp_path, **settings)
    assert result.exit_code == 1
    assert result.output.startswith("pipedrive-webhooks: ")
    assert message in result.output
    assert result.output.count("\n") == 1
    secrets_absent(result.output)
    assert api.requests == []
