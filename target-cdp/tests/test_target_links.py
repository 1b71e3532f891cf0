"""Associations (capped, most recent first) and references resolved whatever the order."""

from __future__ import annotations

from target_messages import deal, note, organization, person, stream_of, ts


def test_association_cap_keeps_most_recent_and_counts_cut(cdp):
    deals = [deal(i, person_id=1, update_time=ts(60 - i)) for i in range(1, 8)]
    cdp.run(
        [*stream_of("persons", [person(1, "a@acme.io")]), *stream_of("deals", deals)],
        max_associations=3,
    )
    person_id = cdp.rows("people")[0]["person_id"]
    ids = {d["pipedrive_deal_id"]: d["deal_id"] for d in cdp.rows("deals")}
    kept = cdp.rows("associations", where=f"from_id = '{person_id}'", order_by="associated_at desc")
    assert [a["to_id"] for a in kept] == [ids[7], ids[6], ids[5]]
    assert all(a["to_kind"] == "deal" for a in kept)
    [run] = cdp.rows("sync_runs")
    assert run["counts"]["deals"]["associations_cut"] == 4
    # Direct references are never capped.
    assert {d["person_id"] for d in cdp.rows("deals")} == {person_id}


def test_associations_follow_changes(duck):
    duck.run(
        [
            *stream_of("persons", [person(1, "a@acme.io"), person(2, "b@acme.io")]),
            *stream_of("deals", [deal(1, person_id=1)]),
        ]
    )
    duck.run(stream_of("deals", [deal(1, person_id=2, update_time=ts(1))]))
    people = {p["pipedrive_person_id"]: p["person_id"] for p in duck.rows("people")}
    links = [
        (a["from_id"], a["to_kind"])
        for a in duck.rows("associations", where="from_kind = 'person'")
    ]
    assert links == [(people[2], "deal")]


def test_children_before_parents_resolve_the_same(cdp):
    notes = [note(1, person_id=1, org_id=10, deal_id=100)]
    deals = [deal(100, person_id=1, org_id=10)]
    parents = [
        *stream_of("organizations", [organization(10)]),
        *stream_of("persons", [person(1, "a@acme.io", org_id=10)]),
    ]
    cdp.run([*stream_of("notes", notes), *stream_of("deals", deals), *parents])
    reverse = {t: cdp.rows(t) for t in ("people", "deals", "associations", "activities")}
    if "postgresql" in cdp.url:
        other = cdp.__class__(cdp.url, cdp.schema + "_b")
    else:
        other = cdp.__class__(cdp.url.replace("warehouse", "ordered"), cdp.schema)
    other.run([*parents, *stream_of("deals", deals), *stream_of("notes", notes)])
    ordered = {t: other.rows(t) for t in ("people", "deals", "associations", "activities")}
    assert reverse == ordered
    [stored_deal] = reverse["deals"]
    assert stored_deal["person_id"] is not None
    assert stored_deal["organization_id"] is not None
    kinds = sorted((a["from_kind"], a["to_kind"]) for a in reverse["associations"])
    assert kinds == [
        ("deal", "note"),
        ("organization", "deal"),
        ("organization", "note"),
        ("organization", "person"),
        ("person", "deal"),
        ("person", "note"),
    ]


def test_a_cut_link_returns_when_a_kept_one_goes(duck):
    deals = [deal(i, person_id=1, update_time=ts(60 - i)) for i in range(1, 5)]
    duck.run(
        [*stream_of("persons", [person(1, "a@acme.io")]), *stream_of("deals", deals)],
        max_associations=3,
    )
    duck.run(
        stream_of("deals", [deal(4, person_id=1, is_deleted=True, update_time=ts(1))]),
        max_associations=3,
    )
    ids = {d["deal_id"]: d["pipedrive_deal_id"] for d in duck.rows("deals")}
    kept = duck.rows("associations", where="from_kind = 'person'", order_by="associated_at desc")
    assert [ids[a["to_id"]] for a in kept] == [3, 2, 1]
