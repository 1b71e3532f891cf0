"""First behaviour checks: every list reads completely, auth, envelopes, stats."""

from __future__ import annotations

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox
from sandbox_helpers import read_v1, read_v2


@pytest.mark.parametrize("path", ["persons", "organizations", "activities"])
def test_v2_list_pages_cover_every_live_record_once(
    sandbox: RunningSandbox, api: requests.Session, path: str
) -> None:
    rows, pages = read_v2(api, f"{sandbox.base_url}/api/v2/{path}", limit=37)
    expected = [r["id"] for r in sandbox.control.dataset(path, include_deleted=False)]
    assert [r["id"] for r in rows] == expected
    assert pages == len(expected) // 37 + 1
    assert all(not r["is_deleted"] for r in rows)


def test_v1_notes_offset_pages_cover_every_active_note(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    rows, _ = read_v1(api, f"{sandbox.base_url}/api/v1/notes", limit=50)
    expected = [n["id"] for n in sandbox.control.dataset("notes") if n["active_flag"]]
    assert [r["id"] for r in rows] == expected
    legacy, _ = read_v1(api, f"{sandbox.base_url}/v1/notes", limit=500)
    assert [r["id"] for r in legacy] == expected


@pytest.mark.parametrize(
    "headers_or_params",
    [
        {},
        {"headers": {"x-api-token": "wrong"}},
        {"params": {"api_token": "wrong"}},
        {"headers": {"Authorization": "Bearer not-issued"}},
    ],
)
def test_wrong_or_missing_token_is_401(sandbox: RunningSandbox, headers_or_params: dict) -> None:
    response = requests.get(f"{sandbox.base_url}/api/v2/deals", timeout=10, **headers_or_params)
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "unauthorized access", "errorCode": 401}


def test_legacy_query_token_is_accepted(sandbox: RunningSandbox) -> None:
    response = requests.get(
        f"{sandbox.base_url}/api/v1/users/me", params={"api_token": sandbox.api_token}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["data"]["company_domain"] == "sandbox-company"


def test_stats_count_requests_and_tokens_per_operation(writable_sandbox: RunningSandbox) -> None:
    session = requests.Session()
    session.headers["x-api-token"] = writable_sandbox.api_token
    writable_sandbox.control.reset_stats()
    for _ in range(3):
        session.get(f"{writable_sandbox.base_url}/api/v2/persons", timeout=10).raise_for_status()
    session.get(f"{writable_sandbox.base_url}/api/v1/notes", timeout=10).raise_for_status()
    stats = writable_sandbox.control.stats()
    assert stats["requests"] == 4
    assert stats["tokens_spent"] == 3 * 10 + 20
    assert stats["by_operation"]["GET /api/v2/persons"] == {"requests": 3, "tokens": 30}
    assert stats["by_operation"]["GET /api/v1/notes"] == {"requests": 1, "tokens": 20}
    assert stats["by_status"] == {"200": 4}
