"""Writes and the control API: update_time bumps, incremental visibility, changelog, clock,
cursor behaviour under concurrent updates, OAuth tokens."""

from __future__ import annotations

import base64

import requests
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from sandbox_helpers import api_session, oauth_token, read_v1, read_v2


def _live_ids(running: RunningSandbox, kind: str) -> list[int]:
    return [r["id"] for r in running.control.dataset(kind, include_deleted=False)]


def test_api_writes_bump_update_time_and_show_in_incremental_reads(
    writable_sandbox: RunningSandbox,
) -> None:
    api = api_session(writable_sandbox)
    base = writable_sandbox.base_url
    before = writable_sandbox.control.advance_clock(3600)
    person_id = _live_ids(writable_sandbox, "persons")[0]
    patched = api.patch(
        f"{base}/api/v2/persons/{person_id}", json={"name": "Ünïcode Renamed"}, timeout=10
    ).json()["data"]
    assert patched["update_time"] == before
    assert patched["first_name"] == "Ünïcode Renamed" or patched["name"] == "Ünïcode Renamed"
    created = api.post(
        f"{base}/api/v2/deals", json={"title": "Fresh", "value": 10}, timeout=10
    ).json()["data"]
    assert created["add_time"] == created["update_time"] == before
    assert created["status"] == "open"
    assert created["stage_id"] is not None
    rows, _ = read_v2(api, f"{base}/api/v2/persons", updated_since=before)
    assert [r["id"] for r in rows] == [person_id]
    deals, _ = read_v2(api, f"{base}/api/v2/deals", updated_since=before)
    assert [d["id"] for d in deals] == [created["id"]]
    note = api.post(
        f"{base}/api/v1/notes", json={"content": "<b>x</b>", "deal_id": created["id"]}, timeout=10
    ).json()["data"]
    since = before.replace("Z", "")
    notes, _ = read_v1(api, f"{base}/api/v1/notes", updated_since=f"{since}Z")
    assert [n["id"] for n in notes] == [note["id"]]
    assert notes[0]["deal"] == {"title": "Fresh"}


def test_deal_status_change_sets_times_and_changelog(writable_sandbox: RunningSandbox) -> None:
    api = api_session(writable_sandbox)
    base = writable_sandbox.base_url
    deal = next(
        d
        for d in writable_sandbox.control.dataset("deals", include_deleted=False)
        if d["status"] == "open" and not d["is_archived"]
    )
    now = writable_sandbox.control.advance_clock(60)
    won = api.patch(f"{base}/api/v2/deals/{deal['id']}", json={"status": "won"}, timeout=10).json()[
        "data"
    ]
    assert won["won_time"] == won["close_time"] == won["update_time"] == now
    assert won["lost_time"] is None
    history = api.get(f"{base}/api/v1/deals/{deal['id']}/changelog", timeout=10).json()
    newest = history["data"][0]
    assert (newest["field_key"], newest["old_value"], newest["new_value"]) == (
        "status",
        "open",
        "won",
    )
    assert newest["time"] == now.replace("T", " ").replace("Z", "")
    assert newest["change_source"] == "api"


def test_deletes_follow_pipedrive(writable_sandbox: RunningSandbox) -> None:
    api = api_session(writable_sandbox)
    base = writable_sandbox.base_url
    now = writable_sandbox.control.advance_clock(120)
    person_id = _live_ids(writable_sandbox, "persons")[1]
    assert api.delete(f"{base}/api/v2/persons/{person_id}", timeout=10).json() == {
        "success": True,
        "data": {"id": person_id},
    }
    rows, _ = read_v2(api, f"{base}/api/v2/persons", limit=500)
    assert person_id not in {r["id"] for r in rows}
    stored = writable_sandbox.control.get("persons", person_id)
    assert stored["is_deleted"] is True
    assert stored["update_time"] == now
    deal_id = next(
        d["id"]
        for d in writable_sandbox.control.dataset("deals", include_deleted=False)
        if not d["is_archived"]
    )
    api.delete(f"{base}/api/v2/deals/{deal_id}", timeout=10).raise_for_status()
    deleted, _ = read_v2(api, f"{base}/api/v2/deals", status="deleted", limit=500)
    assert deal_id in {d["id"] for d in deleted}
    writable_sandbox.control.advance_clock(31 * 86400)
    deleted, _ = read_v2(api, f"{base}/api/v2/deals", status="deleted", limit=500)
    assert deal_id not in {d["id"] for d in deleted}, "deleted deals are gone after 30 days"
    note_id = _live_ids(writable_sandbox, "notes")[0]
    assert api.delete(f"{base}/api/v1/notes/{note_id}", timeout=10).json()["data"] is True
    notes, _ = read_v1(api, f"{base}/api/v1/notes", limit=500)
    assert note_id not in {n["id"] for n in notes}
    assert writable_sandbox.control.get("notes", note_id)["active_flag"] is False


def test_control_api_changes_records_and_records_history(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    info = control.info()
    field = next(f for f in info["custom_fields"]["persons"] if f["field_type"] == "varchar")
    person = control.create(
        "persons",
        {
            "name": "Ada Lovelace",
            "emails": [{"value": "ada@example.com", "primary": True, "label": "work"}],
        },
    )
    assert person["id"] == info["counts"]["persons"] + 1
    control.advance_clock(10)
    updated = control.update("persons", person["id"], {"custom_fields": {field["key"]: "Nordics"}})
    assert updated["update_time"] > person["update_time"]
    assert updated["custom_fields"][field["key"]] == "Nordics"
    api = api_session(writable_sandbox)
    history = api.get(
        f"{writable_sandbox.base_url}/api/v1/persons/{person['id']}/changelog", timeout=10
    ).json()["data"]
    assert [(h["field_key"], h["old_value"], h["new_value"]) for h in history] == [
        (field["key"], None, "Nordics")
    ]
    control.delete("persons", person["id"])
    assert control.get("persons", person["id"])["is_deleted"] is True


def test_changelog_pages_with_cursor(writable_sandbox: RunningSandbox) -> None:
    control = writable_sandbox.control
    deal_id = next(
        d["id"] for d in control.dataset("deals", include_deleted=False) if not d["is_archived"]
    )
    for value in range(5):
        control.advance_clock(1)
        control.update("deals", deal_id, {"value": float(value + 1)})
    api = api_session(writable_sandbox)
    url = f"{writable_sandbox.base_url}/api/v1/deals/{deal_id}/changelog"
    seen, cursor = [], None
    while True:
        body = api.get(
            url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, timeout=10
        ).json()
        seen += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
        assert base64.b64decode(cursor + "==").decode().startswith("id:")
    values = [h["new_value"] for h in seen if h["field_key"] == "value"]
    assert values[:5] == ["5.0", "4.0", "3.0", "2.0", "1.0"]
    assert [h["time"] for h in seen] == sorted((h["time"] for h in seen), reverse=True)


def test_rows_updated_while_paging_reappear_later(writable_sandbox: RunningSandbox) -> None:
    """Keyset cursors: an updated row moves behind the cursor and is read again (at least once)."""
    api = api_session(writable_sandbox)
    url = f"{writable_sandbox.base_url}/api/v2/persons"
    params = {"limit": 20, "sort_by": "update_time"}
    first = api.get(url, params=params, timeout=10).json()
    seen_id = first["data"][0]["id"]
    writable_sandbox.control.advance_clock(5)
    writable_sandbox.control.update("persons", seen_id, {"name": "Moved Forward"})
    rows = first["data"]
    cursor = first["additional_data"]["next_cursor"]
    while cursor:
        body = api.get(url, params={**params, "cursor": cursor}, timeout=10).json()
        rows += body["data"]
        cursor = body["additional_data"]["next_cursor"]
    ids = [r["id"] for r in rows]
    assert ids.count(seen_id) == 2
    assert ids[-1] == seen_id
    assert set(ids) == set(_live_ids(writable_sandbox, "persons"))


def test_oauth_refresh_and_expiry() -> None:
    with start_sandbox(
        seed=3, scale=50, oauth_access_token_ttl=60, frozen_clock=True, burst_limit=0
    ) as running:
        base = running.base_url
        token = oauth_token(running)
        assert token["expires_in"] == 60
        assert token["api_domain"] == base
        assert token["refresh_token"] == "sandbox-refresh-token"
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        assert requests.get(f"{base}/api/v2/persons", headers=bearer, timeout=10).ok
        running.control.advance_clock(61)
        expired = requests.get(f"{base}/api/v2/persons", headers=bearer, timeout=10)
        assert expired.status_code == 401
        bad = requests.post(
            f"{base}/oauth/token",
            auth=("sandbox-client", "wrong"),
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            timeout=10,
        )
        assert bad.status_code == 401
        wrong_grant = requests.post(
            f"{base}/oauth/token",
            auth=("sandbox-client", "sandbox-secret"),
            data={"grant_type": "refresh_token", "refresh_token": "stale"},
            timeout=10,
        )
        assert wrong_grant.status_code == 400
        assert wrong_grant.json()["error"] == "invalid_grant"


def test_person_search_by_email_exact_and_partial(writable_sandbox: RunningSandbox) -> None:
    api = api_session(writable_sandbox)
    url = f"{writable_sandbox.base_url}/api/v2/persons/search"
    created = api.post(
        f"{writable_sandbox.base_url}/api/v2/persons",
        json={"name": "Searchable Sam", "emails": [{"value": "Sam.Search@example.org"}]},
        timeout=10,
    ).json()["data"]
    exact = api.get(
        url,
        params={"term": "sam.search@EXAMPLE.org", "fields": "email", "exact_match": "true"},
        timeout=10,
    ).json()
    assert [i["item"]["id"] for i in exact["data"]["items"]] == [created["id"]]
    assert exact["data"]["items"][0]["item"]["emails"] == ["Sam.Search@example.org"]
    partial = api.get(url, params={"term": "sam.sea", "fields": "email"}, timeout=10).json()
    assert [i["item"]["id"] for i in partial["data"]["items"]] == [created["id"]]
    none = api.get(url, params={"term": "sam.sea", "exact_match": "true"}, timeout=10).json()
    assert none["data"]["items"] == []
    api.delete(f"{writable_sandbox.base_url}/api/v2/persons/{created['id']}", timeout=10)
    gone = api.get(
        url, params={"term": "sam.search@example.org", "exact_match": "true"}, timeout=10
    ).json()
    assert gone["data"]["items"] == []
    assert api.get(url, params={"term": "s"}, timeout=10).status_code == 400
    searches = writable_sandbox.control.stats()["by_operation"]["GET /api/v2/persons/search"]
    assert searches == {"requests": 5, "tokens": 100}
