"""Pipedrive merges: the absorbed person's (organization's) CDP row folds into the survivor's.

tap-pipedrive sends a merge as the absorbed object's last record with ``is_deleted: true`` and
``merged_to_id``; the survivor's record may come before, in the same batch, or after.
"""

from __future__ import annotations

import pytest
from target_messages import deal, note, organization, person, schema, stream_of, ts

TABLES = ("people", "organizations", "deals", "associations", "activities", "activity_summary")


def merge_stream(stream: str, records: list[dict]) -> list[dict]:
    """A SCHEMA declaring ``merged_to_id`` (as tap-pipedrive's does), then the records."""
    message = schema(stream)
    message["schema"]["properties"]["merged_to_id"] = {"type": ["integer", "null"]}
    return [message, *({"type": "RECORD", "stream": stream, "record": r} for r in records)]


def merged_away(record: dict, survivor: int) -> dict:
    """The absorbed object's last record as the tap sends it for a merge."""
    return record | {"is_deleted": True, "update_time": ts(1), "merged_to_id": survivor}


def snapshot(cdp) -> dict[str, list[dict]]:
    return {table: cdp.rows(table, order_by="1, 2") for table in TABLES}


ABSORBED = person(
    2,
    "b@acme.io",
    marketing_status="unsubscribed",
    phones=[{"value": "+49 30 1234", "primary": True, "label": "work"}],
)
SURVIVOR = person(1, "a@acme.io", marketing_status="subscribed")


@pytest.mark.parametrize("order", ["survivor_first", "same_batch"])
def test_absorbed_person_merges_into_survivor(cdp, order):
    first = [SURVIVOR, ABSORBED] if order == "survivor_first" else [ABSORBED]
    cdp.run(
        [
            *stream_of("persons", first),
            *stream_of("deals", [deal(10, person_id=2)]),
            *stream_of("notes", [note(5, person_id=2)]),
        ]
    )
    merge = [merged_away(ABSORBED, 1)]
    cdp.run(merge_stream("persons", merge if order == "survivor_first" else [*merge, SURVIVOR]))

    people = {p["pipedrive_person_id"]: p for p in cdp.rows("people")}
    survivor, absorbed = people[1], people[2]
    assert absorbed["merged_into"] == survivor["person_id"]
    assert absorbed["is_deleted"] is True
    assert survivor["merged_into"] is None
    assert survivor["email"] == "a@acme.io"  # the survivor's value stays
    assert survivor["phone"] == "+49 30 1234"  # its empty field is filled
    assert survivor["email_permission"] is False  # the more restrictive: never raised
    [moved] = cdp.rows("deals")
    assert (moved["person_id"], moved["pipedrive_person_id"]) == (survivor["person_id"], 1)
    links = {(a["from_id"], a["to_kind"]) for a in cdp.rows("associations")}
    assert links == {(survivor["person_id"], "deal"), (survivor["person_id"], "note")}
    [merged] = cdp.rows("activities", where="activity_type = 'pipedrive.person.merged'")
    assert merged["activity_key"] == "pipedrive:person:2:merged:1"
    assert merged["person_id"] == survivor["person_id"]
    assert merged["attributes"] == {"merged_from_id": 2, "merged_to_id": 1}
    summary = {
        (s["person_id"], s["activity_type"]): s["count"] for s in cdp.rows("activity_summary")
    }
    assert absorbed["person_id"] not in {p for p, _ in summary}
    mine = {t: n for (p, t), n in summary.items() if p == survivor["person_id"]}
    assert mine == {
        "pipedrive.person.created": 2,  # both people's, added up
        "pipedrive.deal.created": 1,
        "pipedrive.note.added": 1,
        "pipedrive.person.merged": 1,
    }
    [decision] = cdp.rows("permission_decisions", where="rule = 'merged'")
    assert (decision["person_id"], decision["channel"], decision["value"]) == (
        survivor["person_id"],
        "email",
        False,
    )

    before = snapshot(cdp)
    cdp.run(merge_stream("persons", merge))  # replaying the merge is a no-op
    assert snapshot(cdp) == before


def test_merge_before_survivor_arrives_gives_the_absorbed_row_to_survivor(cdp):
    absorbed = person(2, "b@acme.io", marketing_status="subscribed")
    cdp.run([*stream_of("persons", [absorbed]), *stream_of("deals", [deal(10, person_id=2)])])
    [row] = cdp.rows("people")

    cdp.run(merge_stream("persons", [merged_away(absorbed, 1)]))
    [relinked] = cdp.rows("people")
    assert (relinked["person_id"], relinked["pipedrive_person_id"]) == (row["person_id"], 1)
    assert (relinked["is_deleted"], relinked["merged_into"]) == (False, None)

    cdp.run(stream_of("persons", [person(1, "a@acme.io", marketing_status="unsubscribed")]))
    [merged] = cdp.rows("people")  # no second person: the survivor's record updates the row
    assert (merged["person_id"], merged["email"]) == (row["person_id"], "a@acme.io")
    assert merged["email_permission"] is False  # the survivor's own no is kept
    [moved] = cdp.rows("deals")
    assert (moved["person_id"], moved["pipedrive_person_id"]) == (row["person_id"], 1)
    [activity] = cdp.rows("activities", where="activity_type = 'pipedrive.person.merged'")
    assert activity["person_id"] == row["person_id"]


def test_merge_never_raises_consent_of_the_survivor(duck):
    duck.run(
        stream_of(
            "persons",
            [
                person(1, "a@acme.io", marketing_status="unsubscribed"),
                person(2, "b@acme.io", marketing_status="subscribed"),
            ],
        )
    )
    duck.run(merge_stream("persons", [merged_away(person(2, "b@acme.io"), 1)]))
    survivor = duck.rows("people", where="pipedrive_person_id = 1")[0]
    assert survivor["email_permission"] is False
    assert duck.rows("permission_decisions", where="rule = 'merged'") == []


def test_merge_of_unknown_person_only_links(cdp):
    cdp.run(stream_of("persons", [SURVIVOR]))
    cdp.run(merge_stream("persons", [merged_away(person(7, "z@acme.io"), 1)]))
    [survivor] = cdp.rows("people")
    assert survivor["pipedrive_person_id"] == 1
    [activity] = cdp.rows("activities", where="activity_type = 'pipedrive.person.merged'")
    assert activity["person_id"] == survivor["person_id"]


@pytest.mark.parametrize("order", ["survivor_first", "survivor_after"])
def test_absorbed_organization_merges_into_survivor(cdp, order):
    absorbed = organization(200)
    first = [organization(100), absorbed] if order == "survivor_first" else [absorbed]
    cdp.run(
        [
            *stream_of("organizations", first),
            *stream_of("persons", [person(1, "a@acme.io", org_id=200)]),
            *stream_of("deals", [deal(10, org_id=200)]),
        ]
    )
    cdp.run(merge_stream("organizations", [merged_away(absorbed, 100)]))
    if order == "survivor_after":
        [relinked] = cdp.rows("organizations")
        assert (relinked["pipedrive_org_id"], relinked["merged_into"]) == (100, None)
        cdp.run(stream_of("organizations", [organization(100, update_time=ts(0.5))]))

    orgs = {o["pipedrive_org_id"]: o for o in cdp.rows("organizations")}
    survivor = orgs[100]
    if order == "survivor_first":
        assert orgs[200]["merged_into"] == survivor["organization_id"]
        assert orgs[200]["is_deleted"] is True
    else:
        assert list(orgs) == [100]
    assert survivor["name"] == "Org 100"
    [moved_person] = cdp.rows("people")
    assert (moved_person["organization_id"], moved_person["pipedrive_org_id"]) == (
        survivor["organization_id"],
        100,
    )
    [moved_deal] = cdp.rows("deals")
    assert moved_deal["organization_id"] == survivor["organization_id"]
    links = {
        (a["from_id"], a["to_kind"])
        for a in cdp.rows("associations", where="from_kind = 'organization'")
    }
    assert links == {(survivor["organization_id"], "person"), (survivor["organization_id"], "deal")}
    [activity] = cdp.rows("activities", where="activity_type = 'pipedrive.organization.merged'")
    assert activity["organization_id"] == survivor["organization_id"]

    before = snapshot(cdp)
    cdp.run(merge_stream("organizations", [merged_away(absorbed, 100)]))
    assert snapshot(cdp) == before
