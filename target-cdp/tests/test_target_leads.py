"""Leads: rows linked to people and organizations, ``pipedrive.lead.created``, deletes, and
``pipedrive.lead.converted`` when a deal names the lead it was made from (both engines)."""

from __future__ import annotations

from typing import Any

from target_messages import (
    NOW,
    TIME,
    activate,
    deal,
    organization,
    person,
    record,
    stream_of,
    ts,
)

LEAD_A = "3f2b9c1e-8d4a-4b6f-9e21-5c7d8a9b0c1d"
LEAD_B = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
# A table version (epoch milliseconds of a reconciliation pass) an hour ago.
VERSION = int(NOW.timestamp() * 1000) - 3_600_000


def _n(kind: str) -> dict:
    return {"type": ["null", kind]}


LEADS_SCHEMA = {
    "type": "SCHEMA",
    "stream": "leads",
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "title": _n("string"),
            "owner_id": _n("integer"),
            "person_id": _n("integer"),
            "organization_id": _n("integer"),
            "label_ids": {"type": ["null", "array"], "items": {"type": "string"}},
            "source_name": _n("string"),
            "is_archived": _n("boolean"),
            "was_seen": _n("boolean"),
            "value": {
                "type": ["null", "object"],
                "properties": {"amount": _n("number"), "currency": _n("string")},
            },
            "add_time": TIME,
            "update_time": TIME,
            "custom_fields": {"type": ["null", "object"], "properties": {"budget": {}}},
        },
    },
    "key_properties": ["id"],
}


def lead(lead_id: str, **fields: Any) -> dict:
    """A lead as tap-pipedrive sends it."""
    return {
        "id": lead_id,
        "title": "Harbour expansion",
        "owner_id": 1,
        "person_id": None,
        "organization_id": None,
        "label_ids": [],
        "source_name": "Web forms",
        "is_archived": False,
        "was_seen": True,
        "value": {"amount": 1500, "currency": "EUR"},
        "add_time": ts(10),
        "update_time": ts(10),
        "custom_fields": {"budget": "large"},
        **fields,
    }


def leads(*records: dict, version: int | None = None) -> list[dict]:
    """The leads stream: its SCHEMA and RECORD messages."""
    return [LEADS_SCHEMA, *(record("leads", r, version) for r in records)]


def _activities(cdp, activity_type: str) -> list[dict]:
    return [a for a in cdp.rows("activities") if a["activity_type"] == activity_type]


def test_leads_are_linked_and_announced(cdp):
    cdp.run(
        [
            *stream_of("organizations", [organization(7)]),
            *stream_of("persons", [person(1, "ann@acme.io", org_id=7)]),
            *leads(lead(LEAD_A, person_id=1, organization_id=7), lead(LEAD_B, organization_id=7)),
        ]
    )
    people = {p["pipedrive_person_id"]: p["person_id"] for p in cdp.rows("people")}
    [org] = cdp.rows("organizations")
    rows = {r["pipedrive_lead_id"]: r for r in cdp.rows("leads")}
    assert set(rows) == {LEAD_A, LEAD_B}
    first = rows[LEAD_A]
    assert (first["person_id"], first["organization_id"]) == (people[1], org["organization_id"])
    assert (first["pipedrive_person_id"], first["pipedrive_org_id"]) == (1, 7)
    assert (first["title"], float(first["value"]), first["currency"]) == (
        "Harbour expansion",
        1500.0,
        "EUR",
    )
    assert (first["source_name"], first["is_archived"], first["is_deleted"]) == (
        "Web forms",
        False,
        False,
    )
    assert first["attributes"]["custom_fields"] == {"budget": "large"}
    assert first["attributes"]["was_seen"] is True
    assert rows[LEAD_B]["person_id"] is None

    created = _activities(cdp, "pipedrive.lead.created")
    assert {a["activity_key"] for a in created} == {
        f"pipedrive:lead:{LEAD_A}:created",
        f"pipedrive:lead:{LEAD_B}:created",
    }
    by_key = {a["activity_key"]: a for a in created}
    on_person = by_key[f"pipedrive:lead:{LEAD_A}:created"]
    assert on_person["person_id"] == people[1]
    assert on_person["source_record"] == f"lead:{LEAD_A}"
    assert on_person["attributes"]["title"] == "Harbour expansion"
    assert on_person["attributes"]["custom_fields"] == {"budget": "large"}
    links = {
        (a["from_kind"], a["from_id"], a["to_kind"], a["to_id"]) for a in cdp.rows("associations")
    }
    assert ("person", people[1], "lead", first["lead_id"]) in links
    assert ("organization", org["organization_id"], "lead", rows[LEAD_B]["lead_id"]) in links
    summary = {
        (s["person_id"], s["activity_type"]): s["count"] for s in cdp.rows("activity_summary")
    }
    assert summary[people[1], "pipedrive.lead.created"] == 1


def test_a_lead_arriving_before_its_person_is_linked_when_the_person_comes(cdp):
    cdp.run(leads(lead(LEAD_A, person_id=1)))
    assert cdp.rows("leads")[0]["person_id"] is None
    cdp.run(stream_of("persons", [person(1, "ann@acme.io")]))
    [stored] = cdp.rows("people")
    [activity] = _activities(cdp, "pipedrive.lead.created")
    assert activity["person_id"] == stored["person_id"]


def test_a_lead_missing_from_a_reconciliation_pass_is_retired(cdp):
    cdp.run(leads(lead(LEAD_A), lead(LEAD_B), version=VERSION - 1))
    cdp.run([*leads(lead(LEAD_B), version=VERSION), activate("leads", VERSION)])
    rows = {r["pipedrive_lead_id"]: r for r in cdp.rows("leads")}
    assert rows[LEAD_A]["is_deleted"] is True
    assert rows[LEAD_A]["deleted_at"] is not None
    assert rows[LEAD_B]["is_deleted"] is False
    records = {r["pipedrive_id"]: r["record"]["id"] for r in cdp.rows("pipedrive_records")}
    assert sorted(records.values()) == sorted([LEAD_A, LEAD_B])
    # replaying changes nothing
    before = cdp.rows("leads")
    cdp.run([*leads(lead(LEAD_B), version=VERSION), activate("leads", VERSION)])
    assert cdp.rows("leads") == before


def test_a_converted_lead_is_an_activity_of_its_person_and_deal(cdp):
    cdp.run(
        [
            *stream_of("persons", [person(1, "ann@acme.io"), person(2, "bob@acme.io")]),
            *leads(lead(LEAD_A, person_id=1)),
        ]
    )
    # The deal made from the lead; Pipedrive deletes the lead (the next pass retires it).
    made = deal(40, person_id=2, add_time=ts(1), update_time=ts(1), source_lead_id=LEAD_A)
    cdp.run(stream_of("deals", [made, deal(41, person_id=2)]))
    cdp.run(stream_of("deals", [{**made, "title": "Renamed", "update_time": ts(0.5)}]))
    people = {p["pipedrive_person_id"]: p["person_id"] for p in cdp.rows("people")}
    deals = {d["pipedrive_deal_id"]: d["deal_id"] for d in cdp.rows("deals")}
    [converted] = _activities(cdp, "pipedrive.lead.converted")
    assert converted["activity_key"] == f"pipedrive:lead:{LEAD_A}:converted"
    assert converted["person_id"] == people[1]  # the lead's person, not the deal's
    assert converted["deal_id"] == deals[40]
    assert converted["source_record"] == f"lead:{LEAD_A}"
    assert converted["attributes"]["lead_id"] == LEAD_A
    assert converted["occurred_at"].isoformat()[:19] == ts(1)[:19]


def test_a_deal_from_a_lead_the_cdp_never_saw_converts_on_the_deals_person(cdp):
    cdp.run(
        [
            *stream_of("persons", [person(2, "bob@acme.io")]),
            *stream_of("deals", [deal(40, person_id=2, source_lead_id=LEAD_B)]),
        ]
    )
    [converted] = _activities(cdp, "pipedrive.lead.converted")
    assert converted["person_id"] == cdp.rows("people")[0]["person_id"]


def test_a_stored_deal_that_never_carried_its_lead_converts_only_from_a_known_lead(cdp):
    """A deal stored from records without ``source_lead_id`` (webhooks cannot carry it)
    that arrives with it converts the lead the CDP holds, once; a lead the CDP never saw
    tells nothing new."""
    cdp.run(
        [
            *stream_of("persons", [person(1, "ann@acme.io"), person(2, "bob@acme.io")]),
            *leads(lead(LEAD_A, person_id=1)),
            *stream_of("deals", [deal(40, person_id=2, update_time=ts(3))]),
            *stream_of("deals", [deal(41, person_id=2, update_time=ts(3))]),
        ]
    )
    later = {"person_id": 2, "update_time": ts(1)}
    cdp.run(stream_of("deals", [deal(40, source_lead_id=LEAD_A, **later)]))
    cdp.run(stream_of("deals", [deal(41, source_lead_id=LEAD_B, **later)]))
    cdp.run(stream_of("deals", [deal(40, source_lead_id=LEAD_A, title="Again", **later)]))
    deals = {d["pipedrive_deal_id"]: d["deal_id"] for d in cdp.rows("deals")}
    [converted] = _activities(cdp, "pipedrive.lead.converted")
    assert (converted["deal_id"], converted["attributes"]["lead_id"]) == (deals[40], LEAD_A)


def test_leads_made_in_the_same_tick_on_two_servers_are_two_leads(cdp):
    """Pipedrive's lead ids are version-1 UUIDs: two made at the same instant differ only in
    their clock sequence and node, and must still be two leads."""
    first = "adf21080-0e10-11eb-879b-05d71fb426ec"
    second = "adf21080-0e10-11eb-9a01-0242ac120002"
    cdp.run(leads(lead(first), lead(second, title="Other")))
    stored = {r["pipedrive_lead_id"]: r["title"] for r in cdp.rows("leads")}
    assert stored == {first: "Harbour expansion", second: "Other"}
    assert len(_activities(cdp, "pipedrive.lead.created")) == 2


def test_bad_leads_are_rejected_with_the_reason(cdp):
    """What a SCHEMA leaving the types open lets through is checked by the sink itself."""
    properties = LEADS_SCHEMA["schema"]["properties"]
    open_schema = {
        **LEADS_SCHEMA,
        "schema": {
            "type": "object",
            "properties": {**properties, "id": {}, "organization_id": {}, "value": {}},
        },
    }
    bad = (
        lead("not-a-uuid"),
        lead(LEAD_A, organization_id="7"),
        lead(LEAD_B, value={"amount": "lots", "currency": "EUR"}),
    )
    cdp.run([open_schema, *(record("leads", r) for r in bad)])
    reasons = sorted(r["reason"] for r in cdp.rows("rejected_records"))
    assert reasons == [
        "id must be a lead UUID, got 'not-a-uuid'",
        "organization_id must be an integer or null, got string: '7'",
        "value.amount must be a number or null, got string: 'lots'",
    ]
    assert cdp.rows("leads") == []


def test_a_merged_person_s_leads_move_to_the_survivor(cdp):
    cdp.run(
        [
            *stream_of("persons", [person(1, "ann@acme.io"), person(2, "bob@acme.io")]),
            *leads(lead(LEAD_A, person_id=2)),
        ]
    )
    merged = {**person(2, "bob@acme.io"), "is_deleted": True, "update_time": ts(1)}
    message = stream_of("persons", [])[0]
    message["schema"]["properties"]["merged_to_id"] = {"type": ["integer", "null"]}
    cdp.run([message, record("persons", {**merged, "merged_to_id": 1})])
    people = {p["pipedrive_person_id"]: p["person_id"] for p in cdp.rows("people")}
    [moved] = cdp.rows("leads")
    assert (moved["person_id"], moved["pipedrive_person_id"]) == (people[1], 1)
    links = {(a["from_id"], a["to_kind"]) for a in cdp.rows("associations")}
    assert links == {(people[1], "lead")}
    [created] = _activities(cdp, "pipedrive.lead.created")
    assert created["person_id"] == people[1]


def test_an_api_v1_shaped_reference_of_a_lead_is_its_id(cdp):
    """A SCHEMA that leaves ``person_id`` open lets ``{"value": 1, "name": ...}`` through; the
    lead is linked to person 1 (the whole batch used to fail on the unhashable object)."""
    schema = {**LEADS_SCHEMA, "schema": {**LEADS_SCHEMA["schema"]}}
    schema["schema"]["properties"] = {**LEADS_SCHEMA["schema"]["properties"], "person_id": {}}
    cdp.run(
        [
            *stream_of("persons", [person(1, "ann@acme.io")]),
            schema,
            record("leads", lead(LEAD_A, person_id={"value": 1, "name": "Ann"})),
        ]
    )
    [person_row] = cdp.rows("people")
    [row] = cdp.rows("leads")
    assert (row["pipedrive_person_id"], row["person_id"]) == (1, person_row["person_id"])
    assert cdp.rows("rejected_records") == []
