"""Answers the spec allows but the sandbox never gives (it serves its data the one regular
way), scripted on a local HTTP server."""

from __future__ import annotations

from typing import Any

from tap_helpers import catalog_for, fake_api, run_tap, v2_page

PERSONS = [
    {"id": 1, "name": "Ada", "update_time": "2026-01-01T10:00:00Z"},
    {"id": 2, "name": "Bo", "update_time": "2026-01-02T10:00:00Z"},
]
NOTES = [
    {"id": 7, "content": "n", "active_flag": True, "update_time": "2026-01-03 10:00:00"},
]


def _config(url: str, **settings: Any) -> dict[str, Any]:
    return {
        "api_token": "scripted-token",
        "api_url": url,
        "include_custom_fields": False,
        "retry_base_delay": 0.01,
        **settings,
    }


def test_an_empty_v2_page_with_a_cursor_is_not_the_end() -> None:
    routes = {"/api/v2/persons": [(200, v2_page([], "c1"), {}), (200, v2_page(PERSONS), {})]}
    with fake_api(routes) as api:
        config = _config(api.url)
        run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert run.ids("persons") == [1, 2]
    assert [q.get("cursor") for _, path, q in api.requests if path == "/api/v2/persons"] == [
        None,
        "c1",
    ]
    # The first sync is a reconciliation pass: its version is activated only after both pages.
    assert run.activated["persons"] == [run.versions["persons"][0]]


def test_an_empty_v1_notes_page_with_more_items_is_skipped() -> None:
    hidden = {"start": 0, "limit": 2, "more_items_in_collection": True, "next_start": 2}
    last = {"start": 2, "limit": 2, "more_items_in_collection": False}
    routes = {
        "/api/v1/notes": [
            (200, {"success": True, "data": [], "additional_data": {"pagination": hidden}}, {}),
            (200, {"success": True, "data": NOTES, "additional_data": {"pagination": last}}, {}),
        ]
    }
    with fake_api(routes) as api:
        config = _config(api.url, page_size=2)
        run = run_tap(config, catalog=catalog_for(config, {"notes"}))
    assert run.ids("notes") == [7]
    assert [q["start"] for _, path, q in api.requests if path == "/api/v1/notes"] == ["0", "2"]
    assert run.activated["notes"] == [run.versions["notes"][0]]
