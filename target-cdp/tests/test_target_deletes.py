"""Deletes: flags and ACTIVATE_VERSION mark records deleted, never drop them."""

from __future__ import annotations

import pytest
from target_messages import (
    NOW,
    activate,
    deal,
    note,
    organization,
    person,
    record,
    schema,
    state,
    stream_of,
    ts,
)

# Table versions are epoch milliseconds of the reconciliation pass, as the SDK makes them.
V1, V2 = (int(NOW.timestamp() * 1000) - hours * 3_600_000 for hours in (2, 1))


def test_deletion_flags(cdp):
    cdp.migrate()
    cdp.insert("people", {"person_id": "crm-1", "email": "a@acme.io", "source": "crm"})
    cdp.run(
        [
            *stream_of("persons", [person(1, "a@acme.io"), person(2, "b@acme.io")]),
            *stream_of("deals", [deal(10, person_id=2, status="won", won_time=ts(6))]),
            *stream_of("notes", [note(5, person_id=2)]),
        ]
    )
    cdp.run(
        [
            *stream_of(
                "persons",
                [
                    person(1, "a@acme.io", is_deleted=True, update_time=ts(1)),
                    person(2, "b@acme.io", is_deleted=True, update_time=ts(1)),
                ],
            ),
            *stream_of(
                "deals",
                [deal(10, person_id=2, status="deleted", won_time=ts(6), update_time=ts(1))],
            ),
            *stream_of("notes", [note(5, person_id=2, active_flag=False, update_time=ts(1))]),
        ]
    )
    people = {p["pipedrive_person_id"]: p for p in cdp.rows("people")}
    assert people[1]["is_deleted"] is False  # from another source: stays, link marked
    assert people[1]["pipedrive_deleted_at"] is not None
    assert people[2]["is_deleted"] is True
    assert people[2]["deleted_at"] is not None
    [stored_deal] = cdp.rows("deals")
    assert (stored_deal["is_deleted"], stored_deal["status"]) == (True, "won")
    assert stored_deal["deleted_at"].isoformat()[:19] == ts(1)[:19]
    assert cdp.rows("associations") == []  # deleted records leave associations
    records = {
        (r["stream"], r["pipedrive_id"]): r["is_deleted"] for r in cdp.rows("pipedrive_records")
    }
    assert records == {
        ("persons", 1): True,
        ("persons", 2): True,
        ("deals", 10): True,
        ("notes", 5): True,
    }
    assert any(a["activity_type"] == "pipedrive.deal.deleted" for a in cdp.rows("activities"))


def test_activate_version_retires_unseen_records(cdp):
    first = [
        schema("deals"),
        *(record("deals", deal(i), V1) for i in (1, 2, 3)),
        activate("deals", V1),
    ]
    cdp.run(first)
    cdp.run(stream_of("deals", [deal(4)]))  # incremental, no version
    second = [
        schema("deals"),
        *(record("deals", deal(i), V2) for i in (1, 3)),
        activate("deals", V2),
    ]
    cdp.run(second)
    deals = {d["pipedrive_deal_id"]: d for d in cdp.rows("deals")}
    assert sorted(deals) == [1, 2, 3, 4]  # never dropped
    assert {i for i, d in deals.items() if d["is_deleted"]} == {2, 4}
    assert deals[2]["deleted_at"].timestamp() == V2 / 1000
    deleted = [a for a in cdp.rows("activities") if a["activity_type"] == "pipedrive.deal.deleted"]
    assert sorted(a["source_record"] for a in deleted) == ["deal:2", "deal:4"]
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert runs[-1]["counts"]["deals"]["deleted"] == 2
    cdp.run(second)  # replaying the pass changes nothing
    assert {d["pipedrive_deal_id"]: d for d in cdp.rows("deals")} == deals


def test_activate_version_on_persons_and_catalogs(duck):
    duck.run(
        [
            schema("persons"),
            record("persons", person(1, "a@acme.io"), V1),
            record("persons", person(2, "b@acme.io"), V1),
            activate("persons", V1),
            schema("users"),
            record("users", {"id": 1, "name": "A"}, V1),
            record("users", {"id": 2, "name": "B"}, V1),
            activate("users", V1),
        ]
    )
    duck.run(
        [
            schema("persons"),
            record("persons", person(1, "a@acme.io"), V2),
            activate("persons", V2),
            schema("users"),
            record("users", {"id": 2, "name": "B"}, V2),
            activate("users", V2),
        ]
    )
    assert {p["pipedrive_person_id"]: p["is_deleted"] for p in duck.rows("people")} == {
        1: False,
        2: True,
    }
    assert {u["id"]: u["is_deleted"] for u in duck.rows("users")} == {1: True, 2: False}


def _pass(version: int, ids: tuple[int, ...], order: str) -> list[dict]:
    """A reconciliation pass of deals, ACTIVATE_VERSION before, after or around its records."""
    records = [record("deals", deal(i), version) for i in ids]
    before = [activate("deals", version)] if order in ("before", "both") else []
    after = [activate("deals", version)] if order in ("after", "both") else []
    return [schema("deals"), *before, *records, *after]


@pytest.mark.parametrize("order", ["before", "after", "both"])
def test_activate_version_before_or_after_its_records(cdp, order):
    cdp.run(_pass(V1, (1, 2, 3), order))
    assert not any(d["is_deleted"] for d in cdp.rows("deals"))
    cdp.run(_pass(V2, (1, 3), order))
    deals = {d["pipedrive_deal_id"]: d["is_deleted"] for d in cdp.rows("deals")}
    assert deals == {1: False, 2: True, 3: False}
    deleted = [a for a in cdp.rows("activities") if a["activity_type"] == "pipedrive.deal.deleted"]
    assert [a["source_record"] for a in deleted] == ["deal:2"]  # none for the re-sent deals
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert [r["counts"]["deals"]["deleted"] for r in runs] == [0, 1]
    assert [r["counts"]["deals"]["updated"] for r in runs] == [0, 1]


def test_activate_version_of_an_empty_pass_retires_everything_at_the_end(duck):
    duck.run(_pass(V1, (1, 2), "after"))
    states = duck.run(
        [
            *_pass(V2, (), "before"),
            state({"bookmarks": {"deals": {"version": V2}}}),
        ]
    )
    assert {d["pipedrive_deal_id"]: d["is_deleted"] for d in duck.rows("deals")} == {
        1: True,
        2: True,
    }
    assert states == [{"bookmarks": {"deals": {"version": V2}}}]  # emitted once, after


def test_deferred_activate_version_does_not_undo_a_later_pass(duck):
    duck.run(_pass(V1, (1, 2), "after"))
    # An early ACTIVATE of V1 (no V1 records yet), then a full pass V2 activated at its end,
    # then an incremental record without version: the stale V1 is not applied at the end.
    duck.run(
        [
            schema("deals"),
            activate("deals", V1 - 1),
            *_pass(V2, (1,), "after")[1:],
            record("deals", deal(3)),
        ]
    )
    deals = {d["pipedrive_deal_id"]: d["is_deleted"] for d in duck.rows("deals")}
    assert deals == {1: False, 2: True, 3: False}


def test_active_flag_false_deletes_persons_and_organizations(duck):
    duck.run(
        [
            *stream_of("organizations", [organization(10)]),
            *stream_of("persons", [person(1, "a@acme.io")]),
        ]
    )
    flagged = {"active_flag": False, "update_time": ts(1)}
    loose = [schema("organizations"), schema("persons")]
    for message in loose:
        message["schema"]["properties"]["active_flag"] = {"type": ["null", "boolean"]}
    duck.run(
        [
            loose[0],
            record("organizations", organization(10, **flagged)),
            loose[1],
            record("persons", person(1, "a@acme.io", **flagged)),
        ]
    )
    assert [o["is_deleted"] for o in duck.rows("organizations")] == [True]
    assert [p["is_deleted"] for p in duck.rows("people")] == [True]
