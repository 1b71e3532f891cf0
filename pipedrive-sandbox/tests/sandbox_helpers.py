"""Small clients used by the sandbox tests: an authenticated session, and readers of every page
of a v2 or v1 list.

Test modules import from here, never from ``conftest`` (two test directories' conftests share
that module name when pytest runs them together).
"""

from __future__ import annotations

from typing import Any

import requests
from pipedrive_sandbox.testing import RunningSandbox

ANCHOR = "2026-06-01T12:00:00Z"


def api_session(running: RunningSandbox) -> requests.Session:
    """A session that authenticates like the tap does (``x-api-token`` header)."""
    session = requests.Session()
    session.headers["x-api-token"] = running.api_token
    return session


def oauth_token(running: RunningSandbox) -> dict[str, Any]:
    """The token endpoint's answer to the default client's refresh-token grant."""
    return requests.post(
        f"{running.base_url}/oauth/token",
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "refresh_token", "refresh_token": "sandbox-refresh-token"},
        timeout=10,
    ).json()


def read_v2(session: requests.Session, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """All rows of a v2 list by following ``next_cursor``; returns (rows, pages)."""
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = session.get(url, params=query, timeout=30)
        assert response.status_code == 200, (url, query, response.text)
        body = response.json()
        rows += body["data"]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return rows, pages


def read_v1(session: requests.Session, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """All rows of a v1 offset-paginated list; returns (rows, pages)."""
    rows: list[dict[str, Any]] = []
    pages = 0
    start = 0
    while True:
        response = session.get(url, params={**params, "start": start}, timeout=30)
        assert response.status_code == 200, (url, params, response.text)
        body = response.json()
        rows += body["data"]
        pages += 1
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            assert "next_start" not in pagination
            return rows, pages
        start = pagination["next_start"]
