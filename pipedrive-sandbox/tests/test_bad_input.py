"""Bad input gets Pipedrive's error envelope with a message naming the problem."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox

ENVELOPE_KEYS = {"success", "error", "error_info", "data", "additional_data"}


def _cursor(**payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "mentions"),
    [
        ("/api/v2/persons", {"limit": 501}, "limit"),
        ("/api/v2/persons", {"limit": 0}, "limit"),
        ("/api/v2/persons", {"limit": "ten"}, "limit"),
        ("/api/v2/persons", {"updated_after": "2026-01-01T00:00:00Z"}, "updated_after"),
        ("/api/v2/persons", {"updated_since": "2026-01-01"}, "updated_since"),
        ("/api/v2/persons", {"updated_until": "yesterday"}, "updated_until"),
        ("/api/v2/persons", {"sort_by": "name"}, "sort_by"),
        ("/api/v2/persons", {"sort_direction": "up"}, "sort_direction"),
        ("/api/v2/persons", {"cursor": "not-a-cursor!"}, "cursor"),
        ("/api/v2/persons", {"cursor": _cursor(field="id", fieldValue=3)}, "cursor"),
        (
            "/api/v2/persons",
            {
                "cursor": _cursor(field="id", fieldValue=3, sortDirection="asc", id=3),
                "sort_by": "update_time",
            },
            "cursor",
        ),
        ("/api/v2/persons", {"include_fields": "marketing_status,shoe_size"}, "include_fields"),
        ("/api/v2/persons", {"include_option_labels": "yes"}, "include_option_labels"),
        ("/api/v2/persons", {"ids": ",".join(str(i) for i in range(101))}, "ids"),
        ("/api/v2/persons", {"ids": "1,two"}, "ids"),
        (
            "/api/v2/persons",
            {"custom_fields": ",".join(f"k{i}" for i in range(16))},
            "custom_fields",
        ),
        ("/api/v2/deals", {"status": "open,closed"}, "status"),
        ("/api/v2/activities", {"done": "maybe"}, "done"),
        ("/api/v2/activities", {"custom_fields": "abc"}, "custom_fields"),
        ("/api/v2/stages", {"pipeline_id": "1.5"}, "pipeline_id"),
        ("/api/v1/notes", {"limit": 1000}, "limit"),
        ("/api/v1/notes", {"sort": "color ASC"}, "sort"),
        ("/api/v1/notes", {"updated_since": "2026-01-01 00:00:00"}, "updated_since"),
        ("/api/v1/notes", {"start_date": "01/02/2026"}, "start_date"),
        ("/api/v1/notes", {"start": -5}, "start"),
        ("/api/v1/recents", {}, "since_timestamp"),
        ("/api/v1/recents", {"since_timestamp": "2026-01-01T00:00:00Z"}, "since_timestamp"),
        ("/api/v1/recents", {"since_timestamp": "2026-01-01 00:00:00", "items": "car"}, "items"),
        ("/api/v1/deals/1/changelog", {"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(
    sandbox: RunningSandbox, api: requests.Session, path: str, params: dict, mentions: str
) -> None:
    response = api.get(f"{sandbox.base_url}{path}", params=params, timeout=10)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["success"] is False
    assert body["data"] is None
    assert mentions in body["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "mentions"),
    [
        ("POST", "/api/v2/persons", {"name": "X", "favourite_colour": "red"}, "favourite_colour"),
        ("POST", "/api/v2/persons", {"emails": [{"value": "a@b.c"}]}, "name"),
        ("POST", "/api/v2/deals", {"value": 3}, "title"),
        ("POST", "/api/v2/deals", {"title": "T", "value": "lots"}, "value"),
        ("POST", "/api/v2/deals", {"title": "T", "status": "pending"}, "status"),
        ("POST", "/api/v2/deals", {"title": "T", "stage_id": 999}, "stage_id"),
        ("POST", "/api/v2/deals", {"title": "T", "person_id": 10**6}, "person_id"),
        ("POST", "/api/v2/deals", {"title": "T", "custom_fields": {"nope": 1}}, "nope"),
        ("PATCH", "/api/v2/persons/1", {"marketing_status": "maybe"}, "marketing_status"),
        ("POST", "/api/v1/notes", {"content": "<p>orphan</p>"}, "deal_id"),
        ("POST", "/api/v1/notes", {"deal_id": 1}, "content"),
    ],
)
def test_bad_write_is_400_naming_the_field(
    writable_sandbox: RunningSandbox, method: str, path: str, body: dict, mentions: str
) -> None:
    response = requests.request(
        method,
        f"{writable_sandbox.base_url}{path}",
        json=body,
        headers={"x-api-token": writable_sandbox.api_token},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert mentions in response.json()["error"]


def test_set_custom_field_rejects_empty_list(writable_sandbox: RunningSandbox) -> None:
    info = writable_sandbox.control.info()
    key = next(f["key"] for f in info["custom_fields"]["deals"] if f["field_type"] == "set")
    response = requests.post(
        f"{writable_sandbox.base_url}/api/v2/deals",
        json={"title": "T", "custom_fields": {key: []}},
        headers={"x-api-token": writable_sandbox.api_token},
        timeout=10,
    )
    assert response.status_code == 400
    assert "null to clear" in response.json()["error"]


def test_unknown_ids_paths_and_methods(sandbox: RunningSandbox, api: requests.Session) -> None:
    missing = api.get(f"{sandbox.base_url}/api/v2/persons/99999999", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"] == "Entity was not found"
    unknown = api.get(f"{sandbox.base_url}/api/v2/leads", timeout=10)
    assert unknown.status_code == 404
    assert "x-ratelimit-limit" in unknown.headers
    assert api.put(f"{sandbox.base_url}/api/v2/persons", timeout=10).status_code == 405
    assert api.get(f"{sandbox.base_url}/api/v2/notes", timeout=10).status_code == 404


def test_unknown_params_can_be_ignored_when_asked() -> None:
    from pipedrive_sandbox.testing import start_sandbox  # noqa: PLC0415

    with start_sandbox(seed=2, scale=20, unknown_params="ignore") as running:
        response = requests.get(
            f"{running.base_url}/api/v2/persons",
            params={"updated_after": "x"},
            headers={"x-api-token": running.api_token},
            timeout=10,
        )
        assert response.status_code == 200
