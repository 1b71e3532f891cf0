"""Answers the spec allows but the sandbox never gives (it serves its data the one regular
way), scripted on a local HTTP server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from tap_helpers import catalog_for, fake_api, run_cli, run_tap, sandbox_config, v2_page
from tap_pipedrive.auth import PipedriveOAuthAuthenticator
from tap_pipedrive.errors import AuthenticationError, TokenEndpointError

OAUTH = {
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "refresh_token": "sandbox-refresh-token",
}

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


def _sandbox_token(sandbox: Any) -> dict[str, Any]:
    """A token response the sandbox issued, for a scripted token endpoint to hand out."""
    return requests.post(
        f"{sandbox.base_url}/oauth/token",
        auth=(OAUTH["client_id"], OAUTH["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": OAUTH["refresh_token"]},
        timeout=10,
    ).json()


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


def test_an_oauth_token_endpoint_outage_is_retried(shared_sandbox: Any) -> None:
    """The scripted endpoint fails once with 503, then hands out a token the sandbox issued."""
    token = _sandbox_token(shared_sandbox)
    catalog = catalog_for(sandbox_config(shared_sandbox), {"pipelines"})
    outage = "<html><body>503 Service Temporarily Unavailable</body></html>"
    with fake_api({"/oauth/token": [(503, outage, {}), (200, token, {})]}) as api:
        config = {**OAUTH, "oauth_token_url": f"{api.url}/oauth/token", "retry_base_delay": 0.01}
        run = run_tap(config, catalog=catalog)
    assert api.paths("POST") == ["/oauth/token", "/oauth/token"]
    expected = requests.get(
        f"{shared_sandbox.base_url}/api/v2/pipelines",
        headers={"x-api-token": shared_sandbox.api_token},
        timeout=10,
    ).json()["data"]
    assert run.ids("pipelines") == [p["id"] for p in expected]


def _authenticator(url: str) -> PipedriveOAuthAuthenticator:
    return PipedriveOAuthAuthenticator(
        **OAUTH, token_url=f"{url}/oauth/token", max_tries=3, retry_base_delay=0.01
    )


def test_a_rejected_refresh_token_is_not_retried() -> None:
    refused = {"success": False, "message": "Invalid grant: refresh token is invalid"}
    with (
        fake_api({"/oauth/token": [(400, refused, {})]}) as api,
        pytest.raises(AuthenticationError, match="check client_id"),
    ):
        _authenticator(api.url).ensure_token()
    assert api.paths("POST") == ["/oauth/token"]


def test_a_token_endpoint_that_stays_down_is_not_blamed_on_the_credentials() -> None:
    busy = {"success": False, "error": "Too many requests"}
    routes = {"/oauth/token": [(502, "<html>Bad gateway</html>", {}), (429, busy, {})]}
    with (
        fake_api(routes) as api,
        pytest.raises(TokenEndpointError, match="failed on all 3 attempts") as failure,
    ):
        _authenticator(api.url).ensure_token()
    assert api.paths("POST") == ["/oauth/token"] * 3
    assert "check client_id" not in str(failure.value)
    assert OAUTH["client_secret"] not in str(failure.value)


def test_records_without_field_definitions_leave_custom_fields_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Discovered while ``personFields`` was readable, synced after it went away (404)."""
    field = {"field_code": "a" * 40, "field_name": "Score", "field_type": "double"}
    definition = {**field, "is_custom_field": True, "options": None, "subfields": None}
    gone = {"success": False, "error": "Not found", "error_info": "Unknown endpoint"}
    persons = [{**row, "custom_fields": {"a" * 40: 5}} for row in PERSONS]
    routes = {
        "/api/v2/personFields": [(200, v2_page([definition]), {}), (404, gone, {})],
        "/api/v2/persons": [(200, v2_page(persons), {})],
    }
    with fake_api(routes) as api:
        config = _config(api.url, include_custom_fields=True)
        catalog = catalog_for(config, {"persons"})
        run = run_tap(config, catalog=catalog)
    persons_schema = next(s for s in catalog["streams"] if s["tap_stream_id"] == "persons")
    assert "score" in persons_schema["schema"]["properties"]["custom_fields"]["properties"]
    assert run.ids("persons") == [1, 2]
    assert all("custom_fields" not in person for person in run.records["persons"])
    messages = [record.getMessage() for record in caplog.records]
    refused = [m for m in messages if "refused the field list (HTTP 404 for GET /api/v2/p" in m]
    assert len(refused) == 1
    assert "person_fields is not synced" in refused[0]


def test_a_429_asking_to_wait_hours_stops_at_once_with_a_resumable_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No daily-budget header, just ``Retry-After: 3600``: nothing to wait for in this run."""
    spent = {"success": False, "error": "Rate limit exceeded", "errorCode": 429}
    hours = {"Retry-After": "3600", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}
    routes = {"/api/v2/persons": [(200, v2_page(PERSONS, "c1"), {}), (429, spent, hours)]}
    with fake_api(routes) as api:
        config = _config(api.url)
        catalog = catalog_for(config, {"persons"})
        started = time.monotonic()
        run = run_tap(config, catalog=catalog)
        elapsed = time.monotonic() - started
    assert elapsed < 10
    assert api.paths() == ["/api/v2/persons", "/api/v2/persons"]
    assert run.ids("persons") == [1, 2]
    assert not run.activated["persons"]
    bookmark = run.state["bookmarks"]["persons"]
    assert bookmark["replication_key_value"] == PERSONS[-1]["update_time"]
    stopped = [r.getMessage() for r in caplog.records if "Stopped early" in r.getMessage()]
    assert len(stopped) == 1
    assert "asked to wait 3600 s" in stopped[0]


@pytest.mark.parametrize("status", [403, 422])
def test_marketing_fields_refused_with_another_status_are_dropped(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    refused = {"success": False, "error": "marketing_status is not available for this company"}
    routes = {"/api/v2/persons": [(status, refused, {}), (200, v2_page(PERSONS), {})]}
    with fake_api(routes) as api:
        config = _config(api.url)
        run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert run.ids("persons") == [1, 2]
    asked = [q.get("include_fields") for _, path, q in api.requests if path == "/api/v2/persons"]
    assert asked == ["marketing_status,doi_status", None]
    warnings = [r.getMessage() for r in caplog.records if "marketing app" in r.getMessage()]
    assert len(warnings) == 1
    assert f"HTTP {status}: marketing_status is not available" in warnings[0]


def test_an_api_url_the_user_set_wins_over_the_token_api_domain(shared_sandbox: Any) -> None:
    """A token server naming another host (the spec's example domain) is not followed."""
    token = _sandbox_token(shared_sandbox)
    catalog = catalog_for(sandbox_config(shared_sandbox), {"pipelines"})
    elsewhere = {**token, "api_domain": "https://company.invalid"}
    with fake_api({"/oauth/token": [(200, elsewhere, {})]}) as api:
        config = {
            **OAUTH,
            "oauth_token_url": f"{api.url}/oauth/token",
            "api_url": shared_sandbox.base_url,
            "max_retries": 1,
            "retry_base_delay": 0.01,
        }
        run = run_tap(config, catalog=catalog)
    assert run.ids("pipelines"), "pipelines are read from the api_url that was set"


def _page_with_unreadable_records(good: list[dict[str, Any]], cursor: str | None) -> bytes:
    """A v2 page: the good records, then one record per kind of unreadable string."""
    rows = [json.dumps(row).encode() for row in good]
    rows += [
        b'{"id": 12, "name": "Caf\xe9", "update_time": "2026-01-02T11:00:00Z"}',  # Latin-1
        b'{"owner": {"id": 99}, "id": 13, "name": "\\ud83d", '  # half an emoji
        b'"update_time": "2026-01-02T11:00:00Z"}',
        b'{"id": 14, "name": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ]
    tail = json.dumps({"next_cursor": cursor}).encode()
    return (
        b'{"success": true, "data": [' + b", ".join(rows) + b'], "additional_data": ' + tail + b"}"
    )


def test_unreadable_records_are_skipped_and_the_rest_of_the_page_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = [{"id": 3, "name": "Cy", "update_time": "2026-01-03T10:00:00Z"}]
    routes = {
        "/api/v2/persons": [
            (200, _page_with_unreadable_records(PERSONS, "c1"), {}),
            (200, _page_with_unreadable_records(later, None), {}),
        ]
    }
    with fake_api(routes) as api:
        config = _config(api.url)
        run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert run.ids("persons") == [1, 2, 3]
    assert api.paths() == ["/api/v2/persons", "/api/v2/persons"], "not retried"
    assert run.state["bookmarks"]["persons"]["replication_key_value"] == "2026-01-03T10:00:00Z"
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipped")]
    host = api.url.split("//")[1]
    assert skipped[:3] == [
        f"Skipped record id 12 of GET /api/v2/persons on {host}: a string is not valid UTF-8; "
        "the page's other records were read",
        f"Skipped record id 13 of GET /api/v2/persons on {host}: a string holds a lone UTF-16 "
        "surrogate escape (\\ud800-\\udfff); the page's other records were read",
        f"Skipped record id 14 of GET /api/v2/persons on {host}: it is nested deeper than 1024 "
        "levels; the page's other records were read",
    ]
    assert len(skipped) == 6


@pytest.mark.parametrize(
    "wide", [2**100, 2**64, -(2**63) - 1], ids=["2**100", "2**64", "below -2**63"]
)
def test_an_integer_beyond_64_bits_skips_its_record_not_the_page(
    caplog: pytest.LogCaptureFixture, wide: int
) -> None:
    """orjson reads it as a float: the record would arrive with another value than Pipedrive's."""
    page = {
        "success": True,
        "data": [
            PERSONS[0],
            {"id": 15, "owner": {"id": 3, "label_ids": [1, wide]}, "update_time": "2026-01-02"},
            # the same digits in a string and the largest integer orjson keeps are readable
            {**PERSONS[1], "phone": str(wide), "label_ids": [2**64 - 1, -(2**63)]},
        ],
        "additional_data": {"next_cursor": None},
    }
    with fake_api({"/api/v2/persons": [(200, json.dumps(page).encode(), {})]}) as api:
        config = _config(api.url)
        run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert run.ids("persons") == [1, 2]
    assert run.records["persons"][1]["label_ids"] == [2**64 - 1, -(2**63)]
    assert api.paths() == ["/api/v2/persons"], "not retried"
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipped")]
    host = api.url.split("//")[1]
    assert skipped == [
        f"Skipped record id 15 of GET /api/v2/persons on {host}: the integer {wide} does not "
        "fit in 64 bits (it would arrive as a float); the page's other records were read"
    ]


def test_an_unreadable_note_does_not_lose_its_neighbours() -> None:
    """v1 notes page by offset: the skipped row must not make the next page skip a note."""
    notes = [
        {**NOTES[0], "id": 7, "update_time": "2026-01-03 10:00:00"},
        {**NOTES[0], "id": 9, "update_time": "2026-01-03 10:00:02"},
    ]
    first = json.dumps(notes[0]).encode() + b', {"id": 8, "content": "\xff"}, '
    first += json.dumps(notes[1]).encode()
    more = {"start": 0, "limit": 3, "more_items_in_collection": True, "next_start": 3}
    body = b'{"success": true, "data": [' + first + b'], "additional_data": '
    body += json.dumps({"pagination": more}).encode() + b"}"
    tenth = {**NOTES[0], "id": 10, "update_time": "2026-01-03 10:00:03"}
    last = {"start": 2, "limit": 3, "more_items_in_collection": False}
    second = {"success": True, "data": [notes[1], tenth], "additional_data": {"pagination": last}}
    with fake_api({"/api/v1/notes": [(200, body, {}), (200, second, {})]}) as api:
        config = _config(api.url, page_size=3)
        run = run_tap(config, catalog=catalog_for(config, {"notes"}))
    assert run.ids("notes") == [7, 9, 10]


@pytest.mark.parametrize(
    "cursors",
    [["c1", "c1"], ["c1", "c2", "c1"]],
    ids=["repeated", "alternating"],
)
def test_a_cursor_handed_out_twice_stops_the_run_naming_the_endpoint(
    tmp_path: Path, cursors: list[str]
) -> None:
    pages = [
        (200, v2_page([{**PERSONS[0], "id": n, "update_time": f"2026-01-0{n}T10:00:00Z"}], c), {})
        for n, c in enumerate(cursors, start=1)
    ]
    with fake_api({"/api/v2/persons": pages}) as api:
        config = _config(api.url)
        run = run_cli(tmp_path, config, catalog=catalog_for(config, {"persons"}), timeout=60)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, run.stderr
    host = api.url.split("//")[1]
    assert f"GET /api/v2/persons on {host} returned a next_cursor it had already given" in errors[0]
    assert len(api.paths()) == len(cursors)
    assert run.ids("persons") == list(range(1, len(cursors) + 1))
    bookmark = run.state["bookmarks"]["persons"]["replication_key_value"]
    assert bookmark == run.records["persons"][-1]["update_time"]
    assert not run.activated["persons"], "a list read to no end is never activated"


def test_notes_paging_that_does_not_advance_stops_the_run(tmp_path: Path) -> None:
    """A server that ignores ``start`` serves the same page whatever the offset."""
    rows = [
        {**NOTES[0], "id": 7, "update_time": "2026-01-03 10:00:00"},
        {**NOTES[0], "id": 9, "update_time": "2026-01-03 10:00:02"},
    ]
    more = {"start": 0, "limit": 2, "more_items_in_collection": True, "next_start": 2}
    page = {"success": True, "data": rows, "additional_data": {"pagination": more}}
    with fake_api({"/api/v1/notes": [(200, page, {})]}) as api:
        config = _config(api.url, page_size=2)
        run = run_cli(tmp_path, config, catalog=catalog_for(config, {"notes"}), timeout=60)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(errors) == 1, run.stderr
    assert f"GET /api/v1/notes on {api.url.split('//')[1]} sent the same rows again" in errors[0]
    assert len(api.paths()) <= 3
    assert run.ids("notes") == [7, 9]


def test_notes_pages_hold_two_rows_even_at_page_size_1() -> None:
    """Keyset paging overlaps one row per page: with one row a page it would never move."""
    rows = [{**NOTES[0], "id": n, "update_time": f"2026-01-03 10:00:0{n}"} for n in (1, 2, 3)]
    more = {"start": 0, "limit": 2, "more_items_in_collection": True}
    last = {"start": 1, "limit": 2, "more_items_in_collection": False}
    pages = [
        (200, {"success": True, "data": rows[:2], "additional_data": {"pagination": more}}, {}),
        (200, {"success": True, "data": rows[1:], "additional_data": {"pagination": last}}, {}),
    ]
    with fake_api({"/api/v1/notes": pages}) as api:
        config = _config(api.url, page_size=1)
        run = run_tap(config, catalog=catalog_for(config, {"notes"}))
    assert run.ids("notes") == [1, 2, 3]
    assert [q["limit"] for _, _, q in api.requests] == ["2", "2"]
