"""List semantics: pagination, sorting, time bounds, filters, deleted and archived visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox
from sandbox_helpers import read_v1, read_v2

ANCHOR = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _live(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if not r["is_deleted"]]


@pytest.mark.parametrize(
    ("sort_by", "direction"),
    [("update_time", "asc"), ("update_time", "desc"), ("add_time", "asc"), ("id", "desc")],
)
def test_sorted_pages_cover_every_record_once_in_order(
    sandbox: RunningSandbox, api: requests.Session, sort_by: str, direction: str
) -> None:
    rows, _ = read_v2(
        api,
        f"{sandbox.base_url}/api/v2/persons",
        limit=111,
        sort_by=sort_by,
        sort_direction=direction,
    )
    expected = sorted(
        _live(sandbox.control.dataset("persons")),
        key=lambda r: (r[sort_by], r["id"]),
        reverse=direction == "desc",
    )
    assert [r["id"] for r in rows] == [r["id"] for r in expected]


def test_activities_sort_by_due_date(sandbox: RunningSandbox, api: requests.Session) -> None:
    rows, _ = read_v2(api, f"{sandbox.base_url}/api/v2/activities", limit=200, sort_by="due_date")
    expected = sorted(
        _live(sandbox.control.dataset("activities")), key=lambda r: (r["due_date"], r["id"])
    )
    assert [r["id"] for r in rows] == [r["id"] for r in expected]


def test_updated_since_is_inclusive_and_updated_until_exclusive(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    persons = _live(sandbox.control.dataset("persons"))
    times = sorted({p["update_time"] for p in persons})
    since, until = times[len(times) // 3], times[2 * len(times) // 3]
    rows, _ = read_v2(
        api,
        f"{sandbox.base_url}/api/v2/persons",
        limit=500,
        updated_since=since,
        updated_until=until,
        sort_by="update_time",
    )
    expected = sorted(
        (p for p in persons if since <= p["update_time"] < until),
        key=lambda p: (p["update_time"], p["id"]),
    )
    assert [r["id"] for r in rows] == [p["id"] for p in expected]
    assert rows[0]["update_time"] == since
    assert all(r["update_time"] != until for r in rows)


def test_times_are_rfc3339_in_v2_and_plain_utc_in_v1(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    person = api.get(f"{sandbox.base_url}/api/v2/persons", params={"limit": 1}, timeout=10)
    stamp = person.json()["data"][0]["update_time"]
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    note = api.get(f"{sandbox.base_url}/api/v1/notes", params={"limit": 1}, timeout=10)
    v1_stamp = note.json()["data"][0]["update_time"]
    assert datetime.strptime(v1_stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_deal_status_filters_and_deleted_window(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    deals = [d for d in sandbox.control.dataset("deals") if not d["is_archived"]]
    url = f"{sandbox.base_url}/api/v2/deals"
    default, _ = read_v2(api, url, limit=500)
    assert {r["id"] for r in default} == {d["id"] for d in deals if not d["is_deleted"]}
    for status in ("open", "won", "lost"):
        rows, _ = read_v2(api, url, limit=500, status=status)
        expected = {d["id"] for d in deals if d["status"] == status and not d["is_deleted"]}
        assert {r["id"] for r in rows} == expected
        assert expected
    cutoff = ANCHOR - timedelta(days=30)
    deleted, _ = read_v2(api, url, limit=500, status="deleted")
    recent = {d["id"] for d in deals if d["is_deleted"] and _ts(d["update_time"]) >= cutoff}
    old = {d["id"] for d in deals if d["is_deleted"] and _ts(d["update_time"]) < cutoff}
    assert recent
    assert old, "the seed should hold deals deleted more than 30 days ago"
    assert {r["id"] for r in deleted} == recent
    assert all(r["is_deleted"] and r["status"] == "deleted" for r in deleted)
    everything, _ = read_v2(api, url, limit=500, status="open,won,lost,deleted")
    assert {r["id"] for r in everything} == {d["id"] for d in deals if not d["is_deleted"]} | recent


def test_archived_deals_only_on_the_archived_endpoint(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    deals = sandbox.control.dataset("deals")
    archived = {d["id"] for d in deals if d["is_archived"] and not d["is_deleted"]}
    rows, _ = read_v2(api, f"{sandbox.base_url}/api/v2/deals/archived", limit=5)
    assert {r["id"] for r in rows} == archived
    assert all(r["is_archived"] and r["archive_time"] for r in rows)
    default, _ = read_v2(
        api, f"{sandbox.base_url}/api/v2/deals", limit=500, status="open,won,lost,deleted"
    )
    assert not archived & {r["id"] for r in default}


def test_deal_times_are_consistent_with_status(sandbox: RunningSandbox) -> None:
    for deal in sandbox.control.dataset("deals"):
        won, lost = deal["won_time"], deal["lost_time"]
        assert (won is not None) == (deal["local_won_date"] is not None)
        assert not (won and lost)
        if deal["status"] == "open":
            assert won is None
            assert lost is None
            assert deal["close_time"] is None
        if deal["status"] in ("won", "lost"):
            assert deal["close_time"] == (won or lost)
        if deal["close_time"]:
            assert deal["add_time"] <= deal["close_time"] <= deal["update_time"]
        if deal["stage_change_time"]:
            assert deal["add_time"] <= deal["stage_change_time"] <= deal["update_time"]


def test_activities_done_times_are_consistent(sandbox: RunningSandbox) -> None:
    activities = sandbox.control.dataset("activities")
    assert {a["type"] for a in activities} >= {"call", "meeting", "task", "email", "deadline"}
    assert any(a["done"] for a in activities)
    assert any(not a["done"] for a in activities)
    for activity in activities:
        assert (activity["marked_as_done_time"] is not None) == activity["done"]
        if activity["done"]:
            assert (
                activity["add_time"] <= activity["marked_as_done_time"] <= activity["update_time"]
            )


def test_deleted_persons_vanish_from_lists_but_keep_their_record(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    deleted = [p for p in sandbox.control.dataset("persons") if p["is_deleted"]]
    assert deleted
    rows, _ = read_v2(api, f"{sandbox.base_url}/api/v2/persons", limit=500)
    assert not {p["id"] for p in deleted} & {r["id"] for r in rows}
    one = api.get(f"{sandbox.base_url}/api/v2/persons/{deleted[0]['id']}", timeout=10).json()
    assert one["data"]["is_deleted"] is True
    assert one["data"]["update_time"] == deleted[0]["update_time"]


def test_notes_sort_filters_and_inactive_notes(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    notes = sandbox.control.dataset("notes")
    active = [n for n in notes if n["active_flag"]]
    assert len(active) < len(notes), "the seed should hold deleted notes"
    url = f"{sandbox.base_url}/api/v1/notes"
    rows, pages = read_v1(api, url, limit=40, sort="update_time DESC, id ASC")
    expected = sorted(active, key=lambda n: (-_epoch_v1(n["update_time"]), n["id"]))
    assert [r["id"] for r in rows] == [n["id"] for n in expected]
    assert pages > 1
    since = sorted(n["update_time"] for n in active)[len(active) // 2]
    since_rfc = since.replace(" ", "T") + "Z"
    newer, _ = read_v1(api, url, limit=500, updated_since=since_rfc, sort="update_time ASC")
    assert [r["id"] for r in newer] == [
        n["id"]
        for n in sorted(active, key=lambda n: (n["update_time"], n["id"]))
        if n["update_time"] >= since
    ]
    deal_id = next(n["deal_id"] for n in active if n["deal_id"])
    for_deal, _ = read_v1(api, url, deal_id=deal_id)
    assert {r["id"] for r in for_deal} == {n["id"] for n in active if n["deal_id"] == deal_id}
    assert all(r["deal"]["title"] for r in for_deal)


def _epoch_v1(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def test_quick_filters_match_the_dataset(sandbox: RunningSandbox, api: requests.Session) -> None:
    deals = _live([d for d in sandbox.control.dataset("deals") if not d["is_archived"]])
    org_id = next(d["org_id"] for d in deals if d["org_id"])
    rows, _ = read_v2(api, f"{sandbox.base_url}/api/v2/deals", org_id=org_id, limit=500)
    assert {r["id"] for r in rows} == {d["id"] for d in deals if d["org_id"] == org_id}
    rows, _ = read_v2(api, f"{sandbox.base_url}/api/v2/deals", owner_id=2, stage_id=2)
    assert {r["id"] for r in rows} == {
        d["id"] for d in deals if d["owner_id"] == 2 and d["stage_id"] == 2
    }
    wanted = [d["id"] for d in deals[:7]]
    rows, _ = read_v2(
        api, f"{sandbox.base_url}/api/v2/deals", ids=",".join(map(str, [*wanted, 999999]))
    )
    assert [r["id"] for r in rows] == wanted
    activities = _live(sandbox.control.dataset("activities"))
    rows, _ = read_v2(api, f"{sandbox.base_url}/api/v2/activities", done="true", limit=500)
    assert {r["id"] for r in rows} == {a["id"] for a in activities if a["done"]}


def test_custom_field_options_and_key_selection(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    fields = api.get(f"{sandbox.base_url}/api/v2/dealFields", timeout=10).json()["data"]
    enum = next(f for f in fields if f["is_custom_field"] and f["field_type"] == "enum")
    labels = {o["id"]: o["label"] for o in enum["options"]}
    deals = [d for d in _live(sandbox.control.dataset("deals")) if not d["is_archived"]]
    with_value = [d for d in deals if d["custom_fields"][enum["field_code"]] is not None]
    deleted_option = [d for d in with_value if d["custom_fields"][enum["field_code"]] not in labels]
    assert deleted_option, "some deals keep a deleted enum option"
    rows, _ = read_v2(
        api,
        f"{sandbox.base_url}/api/v2/deals",
        limit=500,
        include_option_labels="true",
        custom_fields=enum["field_code"],
    )
    by_id = {r["id"]: r for r in rows}
    for deal in with_value:
        shown = by_id[deal["id"]]["custom_fields"]
        assert list(shown) == [enum["field_code"]]
        assert shown[enum["field_code"]]["id"] == deal["custom_fields"][enum["field_code"]]
    sample = by_id[with_value[0]["id"]]["custom_fields"][enum["field_code"]]
    if sample["id"] in labels:
        assert sample["label"] == labels[sample["id"]]


def test_marketing_status_only_when_requested(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    url = f"{sandbox.base_url}/api/v2/persons"
    plain = api.get(url, params={"limit": 50}, timeout=10).json()["data"]
    assert all("marketing_status" not in p for p in plain)
    rich = api.get(url, params={"limit": 500, "include_fields": "marketing_status"}, timeout=10)
    statuses = {p["marketing_status"] for p in rich.json()["data"]}
    assert statuses == {"no_consent", "unsubscribed", "subscribed", "archived"}
    assert all(
        p["marketing_status"] == "no_consent" for p in rich.json()["data"] if not p["emails"]
    )


def test_counts_via_include_fields_match_the_dataset(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    activities = _live(sandbox.control.dataset("activities"))
    person_id = max(
        {a["person_id"] for a in activities if a["person_id"]},
        key=lambda p: sum(a["person_id"] == p for a in activities),
    )
    body = api.get(
        f"{sandbox.base_url}/api/v2/persons/{person_id}",
        params={"include_fields": "activities_count,done_activities_count"},
        timeout=10,
    ).json()["data"]
    mine = [a for a in activities if a["person_id"] == person_id]
    assert body["activities_count"] == len(mine)
    assert body["done_activities_count"] == sum(a["done"] for a in mine)
