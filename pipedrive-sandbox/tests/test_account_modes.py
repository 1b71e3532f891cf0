"""Account modes: no marketing app (``--no-marketing-app``), OAuth tokens with fewer scopes
(``--oauth-scopes``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from sandbox_helpers import ANCHOR, api_session, oauth_token, read_v2

ENVELOPE_KEYS = {"success", "error", "error_info", "data", "additional_data"}
MARKETING = {"marketing_status", "doi_status"}


@pytest.fixture(scope="module")
def no_marketing() -> Iterator[RunningSandbox]:
    with start_sandbox(
        seed=11,
        scale=200,
        anchor=ANCHOR,
        burst_limit=0,
        daily_budget=0,
        frozen_clock=True,
        no_marketing_app=True,
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "include", "named"),
    [
        ("/api/v2/persons", "marketing_status", "marketing_status"),
        ("/api/v2/persons", "notes_count,doi_status", "doi_status"),
        ("/api/v2/persons/1", "marketing_status,doi_status", "marketing_status and doi_status"),
    ],
)
def test_marketing_include_fields_are_a_400_naming_the_parameter(
    no_marketing: RunningSandbox, path: str, include: str, named: str
) -> None:
    response = api_session(no_marketing).get(
        f"{no_marketing.base_url}{path}", params={"include_fields": include}, timeout=10
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["success"] is False
    assert body["data"] is None
    assert "'include_fields'" in body["error"]
    assert named in body["error"]
    assert "marketing app" in body["error"]


def test_persons_never_carry_marketing_fields(no_marketing: RunningSandbox) -> None:
    api = api_session(no_marketing)
    base = no_marketing.base_url
    rows, _ = read_v2(api, f"{base}/api/v2/persons", limit=500, include_fields="notes_count")
    dataset = no_marketing.control.dataset("persons")
    assert {r["id"] for r in rows} == {p["id"] for p in dataset if not p["is_deleted"]}
    assert all("notes_count" in r for r in rows)
    assert not any(MARKETING & set(r) for r in rows)
    assert not any(MARKETING & set(p) for p in dataset)
    assert no_marketing.control.info()["marketing_app"] is False
    fields, _ = read_v2(api, f"{base}/api/v2/personFields")
    assert "marketing_status" not in {f["field_code"] for f in fields}
    assert "name" in {f["field_code"] for f in fields}


def test_the_other_person_fields_are_those_of_the_same_seed(no_marketing: RunningSandbox) -> None:
    with start_sandbox(seed=11, scale=200, anchor=ANCHOR, frozen_clock=True) as usual:
        with_app = usual.control.dataset("persons")
    assert any(p["marketing_status"] == "subscribed" for p in with_app)
    without = [{k: v for k, v in p.items() if k not in MARKETING} for p in with_app]
    seeded = [p for p in no_marketing.control.dataset("persons") if p["id"] <= len(with_app)]
    assert seeded == without


def test_writes_cannot_set_marketing_status(no_marketing: RunningSandbox) -> None:
    api = api_session(no_marketing)
    base = no_marketing.base_url
    refused = api.post(
        f"{base}/api/v2/persons",
        json={"name": "Mail Able", "marketing_status": "subscribed"},
        timeout=10,
    )
    assert refused.status_code == 400
    assert "'marketing_status'" in refused.json()["error"]
    created = api.post(
        f"{base}/api/v2/persons",
        json={"name": "Mail Able", "emails": [{"value": "m@able.example"}]},
        timeout=10,
    ).json()["data"]
    stored = no_marketing.control.get("persons", created["id"])
    assert stored["emails"][0]["value"] == "m@able.example"
    assert not MARKETING & set(stored)
    with pytest.raises(RuntimeError, match="unknown persons fields: marketing_status"):
        no_marketing.control.create("persons", {"name": "X", "marketing_status": "subscribed"})


# Read scopes of a marketplace app that did not ask for "admin".
READ_SCOPES = (
    "base",
    "deals:read",
    "contacts:read",
    "activities:read",
    "recents:read",
    "users:read",
)


def _bearer(running: RunningSandbox) -> tuple[requests.Session, str]:
    """A session with a fresh OAuth access token, and the token's ``scope``."""
    token = oauth_token(running)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session, token["scope"]


def test_a_token_without_admin_scope_gets_403_on_v2_activity_fields_only() -> None:
    with start_sandbox(
        seed=11, scale=60, anchor=ANCHOR, burst_limit=0, oauth_scopes=READ_SCOPES
    ) as running:
        oauth, scope = _bearer(running)
        assert scope == ",".join(READ_SCOPES)
        assert running.control.info()["oauth_scopes"] == list(READ_SCOPES)
        base = running.base_url
        refused = oauth.get(f"{base}/api/v2/activityFields", timeout=10)
        assert refused.status_code == 403
        body = refused.json()
        assert set(body) == ENVELOPE_KEYS
        assert body["success"] is False
        assert body["error"] == "Scope and URL mismatch"
        assert refused.headers["x-ratelimit-limit"]
        write = oauth.post(f"{base}/api/v2/persons", json={"name": "No Full Scope"}, timeout=10)
        assert write.status_code == 403
        for path in ("/api/v2/persons", "/api/v2/personFields", "/api/v1/notes", "/api/v1/users"):
            assert oauth.get(f"{base}{path}", timeout=10).status_code == 200, path
        v1 = oauth.get(f"{base}/api/v1/activityFields", timeout=10)
        assert v1.status_code == 200
        v2, _ = read_v2(api_session(running), f"{base}/api/v2/activityFields")  # API token
        operations = running.control.stats()["by_operation"]
    rows = v1.json()["data"]
    assert [r["key"] for r in rows] == [f["field_code"] for f in v2]
    assert [r["name"] for r in rows] == [f["field_name"] for f in v2]
    assert [r["field_type"] for r in rows] == [f["field_type"] for f in v2]
    assert [r["edit_flag"] for r in rows] == [f["is_custom_field"] for f in v2]
    labels = {r["key"]: [o["label"] for o in r["options"] or []] for r in rows}
    assert labels == {f["field_code"]: [o["label"] for o in f["options"] or []] for f in v2}
    assert labels["priority"] == ["High", "Medium", "Low"]
    assert operations["GET /api/v1/activityFields"] == {"requests": 1, "tokens": 20}
    assert operations["GET /api/v2/activityFields"]["requests"] == 2  # the 403 and the token's


def test_default_tokens_carry_every_scope_the_sandbox_serves() -> None:
    with start_sandbox(seed=11, scale=60, anchor=ANCHOR, burst_limit=0) as running:
        oauth, scope = _bearer(running)
        assert "admin" in scope.split(",")
        assert oauth.get(f"{running.base_url}/api/v2/activityFields", timeout=10).ok
        created = oauth.post(
            f"{running.base_url}/api/v2/persons", json={"name": "Full Scope"}, timeout=10
        )
        assert created.ok, created.text
