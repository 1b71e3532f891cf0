"""The derived-activity rules README.md states ("Activities": the table of types, keys, times;
"Deletes": what says deleted), one row each.

Pure functions only (``activities.py``): no database, no target. Each row compares every
activity derived with its type, key, ``occurred_at``, attributes and the Pipedrive ids it
concerns (person, organization, deal).
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest
from target_cdp.activities import (
    changes,
    derived_from_deal,
    derived_from_note,
    derived_from_organization,
    derived_from_person,
    derived_from_pipedrive_activity,
    is_deleted,
    lead_converted,
)
from target_cdp.activities import derived_from_lead as _derived_from_lead

ADDED = "2026-03-01T10:00:00Z"
UPDATED = "2026-03-02T11:00:00Z"
LATER = "2026-03-03T12:00:00Z"
STAGE_CHANGED = "2026-03-02T09:30:00Z"
WON = "2026-03-04T08:00:00Z"
LOST = "2026-03-05T08:00:00Z"
DONE = "2026-03-06T15:45:00Z"
LEAD = "adf21080-0e10-11eb-879b-05d71fb426ec"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def a(kind: str, key: str, when: str, attributes: dict, refs: tuple = (None, None, None)) -> tuple:
    """An expected activity: (type, key, occurred_at, attributes, (person, org, deal) refs)."""
    return (kind, key, at(when), attributes, refs)


def derived(activities: list) -> list[tuple]:
    return [
        (
            x.activity_type,
            x.key,
            x.occurred_at,
            x.attributes,
            (x.person_ref, x.org_ref, x.deal_ref),
        )
        for x in activities
    ]


def rec(id_: Any = 1, **fields: Any) -> dict:
    """A Pipedrive record with its id and times, plus ``fields`` (None removes a field)."""
    made = {"id": id_, "add_time": ADDED, "update_time": UPDATED, **fields}
    return {k: v for k, v in made.items() if v is not None}


person = partial(derived_from_person, deleted=False)
organization = partial(derived_from_organization, deleted=False)
note = partial(derived_from_note, deleted=False)
activity = partial(derived_from_pipedrive_activity, deleted=False)
lead = partial(_derived_from_lead, deleted=False)
deal = partial(derived_from_deal, deleted=False, deleted_at=None)
CUSTOM = {"tier": "gold"}

ROWS = [
    # --- persons
    pytest.param(
        person,
        None,
        rec(
            name="Ada",
            emails=[{"value": "a@acme.io"}],
            org_id=7,
            marketing_status="subscribed",
            first_name="Ada",
            custom_fields=CUSTOM,
        ),
        [
            a(
                "pipedrive.person.created",
                "pipedrive:person:1:created",
                ADDED,
                {
                    "name": "Ada",
                    "emails": [{"value": "a@acme.io"}],
                    "org_id": 7,
                    "marketing_status": "subscribed",
                    "custom_fields": CUSTOM,
                },
                (1, 7, None),
            )
        ],
        id="person.created: first sight, occurred_at add_time, core attributes + custom fields",
    ),
    pytest.param(
        person,
        None,
        rec(add_time=None, name="Ada"),
        [
            a(
                "pipedrive.person.created",
                "pipedrive:person:1:created",
                UPDATED,
                {"name": "Ada"},
                (1, None, None),
            )
        ],
        id="person.created: without add_time, update_time",
    ),
    pytest.param(
        partial(derived_from_person, deleted=True),
        None,
        rec(name="Ada", is_deleted=True),
        [],
        id="person first seen deleted: nothing (a person has no deletion activity)",
    ),
    pytest.param(
        person,
        rec(name="Ada", custom_fields={"tier": "bronze", "utm.source": "ads"}),
        rec(
            name="Ada L.",
            update_time=LATER,
            custom_fields={"tier": "gold", "utm.source": "mail"},
            _sdc_extracted_at="2026-03-03T12:00:01Z",
        ),
        [
            a(
                "pipedrive.person.updated",
                "pipedrive:person:1:updated:2026-03-03T12:00:00Z",
                LATER,
                {
                    "changes": {
                        'custom_fields."utm.source"': {"old": "ads", "new": "mail"},
                        "custom_fields.tier": {"old": "bronze", "new": "gold"},
                        "name": {"old": "Ada", "new": "Ada L."},
                    }
                },
                (1, None, None),
            )
        ],
        id="person.updated: tracked fields changed, occurred_at update_time, "
        'custom_fields.<name>, custom_fields."utm.source", no _sdc_* or update_time',
    ),
    pytest.param(
        person,
        rec(name="Ada"),
        rec(name="Ada", update_time=LATER, active_flag=True),
        [],
        id="person.updated: nothing when no tracked field changed",
    ),
    pytest.param(
        person,
        rec(name="Ada"),
        rec(name="Ada B."),
        [
            a(
                "pipedrive.person.updated",
                # same update_time as stored: the suffix is the SHA-1 of the changes' canonical JSON
                "pipedrive:person:1:updated:2026-03-02T11:00:00Z#72a5c3e009",
                UPDATED,
                {"changes": {"name": {"old": "Ada", "new": "Ada B."}}},
                (1, None, None),
            )
        ],
        id="two edits within one second: content hash suffix",
    ),
    pytest.param(
        partial(derived_from_person, deleted=True),
        rec(5, name="Bob"),
        rec(5, name="Bob", is_deleted=True, merged_to_id=9, update_time=LATER),
        [
            a(
                "pipedrive.person.merged",
                "pipedrive:person:5:merged:9",
                LATER,
                {"merged_from_id": 5, "merged_to_id": 9},
                (9, None, None),
            )
        ],
        id="person.merged: on the survivor, the merge's update_time, "
        "key pipedrive:person:<absorbed>:merged:<survivor>",
    ),
    # --- organizations
    pytest.param(
        organization,
        None,
        rec(7, name="Acme", owner_id=3, address="Main St", custom_fields=CUSTOM, website="x"),
        [
            a(
                "pipedrive.organization.created",
                "pipedrive:organization:7:created",
                ADDED,
                {"name": "Acme", "owner_id": 3, "address": "Main St", "custom_fields": CUSTOM},
                (None, 7, None),
            )
        ],
        id="organization.created: first sight, add_time",
    ),
    pytest.param(
        organization,
        rec(7, name="Acme"),
        rec(7, name="Acme Inc", update_time=LATER),
        [],
        id="organization: no activity on change",
    ),
    pytest.param(
        partial(derived_from_organization, deleted=True),
        None,
        rec(7, name="Acme", is_deleted=True, merged_to_id=8, update_time=LATER),
        [
            a(
                "pipedrive.organization.merged",
                "pipedrive:organization:7:merged:8",
                LATER,
                {"merged_from_id": 7, "merged_to_id": 8},
                (None, 8, None),
            )
        ],
        id="organization.merged: on the survivor, the merge's update_time",
    ),
    # --- deals
    pytest.param(
        deal,
        None,
        rec(42, title="Big", value=100, currency="EUR", status="open", person_id=1, org_id=7),
        [
            a(
                "pipedrive.deal.created",
                "pipedrive:deal:42:created",
                ADDED,
                {"title": "Big", "value": 100, "currency": "EUR", "status": "open"},
                (1, 7, 42),
            )
        ],
        id="deal.created: first sight, add_time",
    ),
    pytest.param(
        deal,
        None,
        rec(42, title="Big", stage_id=2, pipeline_id=1, stage_change_time=STAGE_CHANGED),
        [
            a(
                "pipedrive.deal.created",
                "pipedrive:deal:42:created",
                ADDED,
                {"title": "Big", "stage_id": 2, "pipeline_id": 1},
                (None, None, 42),
            ),
            a(
                "pipedrive.deal.stage_changed",
                "pipedrive:deal:42:stage_changed:2026-03-02T09:30:00Z:2",
                STAGE_CHANGED,
                {"pipeline_id": 1, "stage_id": 2, "from_stage_id": None},
                (None, None, 42),
            ),
        ],
        id="deal.stage_changed on first sight when stage_change_time is set",
    ),
    pytest.param(
        deal,
        None,
        rec(42, title="Big", stage_id=2),
        [
            a(
                "pipedrive.deal.created",
                "pipedrive:deal:42:created",
                ADDED,
                {"title": "Big", "stage_id": 2},
                (None, None, 42),
            )
        ],
        id="deal.stage_changed: not on first sight without stage_change_time",
    ),
    pytest.param(
        deal,
        rec(42, stage_id=2, pipeline_id=1),
        rec(42, stage_id=3, pipeline_id=1, stage_change_time=STAGE_CHANGED, update_time=LATER),
        [
            a(
                "pipedrive.deal.updated",
                "pipedrive:deal:42:updated:2026-03-03T12:00:00Z",
                LATER,
                {
                    "changes": {
                        "stage_change_time": {"old": None, "new": STAGE_CHANGED},
                        "stage_id": {"old": 2, "new": 3},
                    }
                },
                (None, None, 42),
            ),
            a(
                "pipedrive.deal.stage_changed",
                "pipedrive:deal:42:stage_changed:2026-03-02T09:30:00Z:3",
                STAGE_CHANGED,
                {"pipeline_id": 1, "stage_id": 3, "from_stage_id": 2},
                (None, None, 42),
            ),
        ],
        id="deal.updated + deal.stage_changed: stage_id changed, occurred_at stage_change_time",
    ),
    pytest.param(
        deal,
        None,
        rec(42, status="won", value=5, currency="EUR", won_time=WON),
        [
            a(
                "pipedrive.deal.created",
                "pipedrive:deal:42:created",
                ADDED,
                {"status": "won", "value": 5, "currency": "EUR"},
                (None, None, 42),
            ),
            a(
                "pipedrive.deal.won",
                "pipedrive:deal:42:won:2026-03-04T08:00:00Z",
                WON,
                {"value": 5, "currency": "EUR", "won_time": WON},
                (None, None, 42),
            ),
        ],
        id="deal.won also on first sight, occurred_at won_time, key pipedrive:deal:42:won:<time>",
    ),
    pytest.param(
        deal,
        rec(42, status="open"),
        rec(42, status="lost", lost_time=LOST, lost_reason="price", update_time=LATER),
        [
            a(
                "pipedrive.deal.updated",
                "pipedrive:deal:42:updated:2026-03-03T12:00:00Z",
                LATER,
                {
                    "changes": {
                        "lost_reason": {"old": None, "new": "price"},
                        "lost_time": {"old": None, "new": LOST},
                        "status": {"old": "open", "new": "lost"},
                    }
                },
                (None, None, 42),
            ),
            a(
                "pipedrive.deal.lost",
                "pipedrive:deal:42:lost:2026-03-05T08:00:00Z",
                LOST,
                {"lost_time": LOST, "lost_reason": "price"},
                (None, None, 42),
            ),
        ],
        id="deal.lost: status became lost, occurred_at lost_time",
    ),
    pytest.param(
        deal,
        rec(42, status="won", won_time=WON),
        rec(42, status="won", won_time=WON, title="Renamed", update_time=LATER),
        [
            a(
                "pipedrive.deal.updated",
                "pipedrive:deal:42:updated:2026-03-03T12:00:00Z",
                LATER,
                {"changes": {"title": {"old": None, "new": "Renamed"}}},
                (None, None, 42),
            )
        ],
        id="deal.won: not again while the status stays won",
    ),
    pytest.param(
        partial(derived_from_deal, deleted=True, deleted_at=None),
        rec(42, status="open", title="Big"),
        rec(42, status="open", title="Big", is_deleted=True, update_time=LATER),
        [
            a(
                "pipedrive.deal.deleted",
                "pipedrive:deal:42:deleted:2026-03-03T12:00:00Z",
                LATER,
                {"title": "Big", "status": "open"},
                (None, None, 42),
            )
        ],
        id="deal.deleted: deleted flag, at the record's update_time",
    ),
    pytest.param(
        partial(derived_from_deal, deleted=True, deleted_at=at("2026-04-01T00:00:00Z")),
        rec(42, status="open"),
        rec(42, status="open"),
        [
            a(
                "pipedrive.deal.deleted",
                "pipedrive:deal:42:deleted:2026-04-01T00:00:00Z",
                "2026-04-01T00:00:00Z",
                {"status": "open"},
                (None, None, 42),
            )
        ],
        id="deal.deleted: retired by ACTIVATE_VERSION, at the version's time",
    ),
    pytest.param(
        partial(derived_from_deal, deleted=True, deleted_at=None),
        None,
        rec(42, status="deleted", title="Big", stage_id=2, stage_change_time=STAGE_CHANGED),
        [
            a(
                "pipedrive.deal.deleted",
                "pipedrive:deal:42:deleted:2026-03-02T11:00:00Z",
                UPDATED,
                {"title": "Big", "status": "deleted"},
                (None, None, 42),
            )
        ],
        id="deal first seen deleted (status: deleted): only its deletion",
    ),
    pytest.param(
        partial(derived_from_deal, deleted=True, deleted_at=None),
        rec(42, status="deleted"),
        rec(42, status="deleted", update_time=LATER),
        [],
        id="deal.deleted: once (a deal already deleted is not deleted again)",
    ),
    # --- notes
    pytest.param(
        note,
        None,
        rec(5, content="x" * 1500, user_id=3, deal_id=42, person_id=1, org_id=7),
        [
            a(
                "pipedrive.note.added",
                "pipedrive:note:5:added",
                ADDED,
                {"content": "x" * 1000, "user_id": 3, "deal_id": 42, "person_id": 1, "org_id": 7},
                (1, 7, 42),
            )
        ],
        id="note.added: first sight, add_time, content cut at 1,000 characters",
    ),
    pytest.param(
        note,
        rec(5, content="hello"),
        rec(5, content="hello again", update_time=LATER),
        [],
        id="note: nothing after first sight",
    ),
    pytest.param(
        partial(derived_from_note, deleted=True),
        None,
        rec(5, content="hello", active_flag=False),
        [],
        id="note first seen deleted: nothing",
    ),
    # --- Pipedrive activities
    pytest.param(
        activity,
        None,
        rec(9, type="call", subject="Intro", done=False, person_id=1, deal_id=42, note="n"),
        [
            a(
                "pipedrive.activity.created",
                "pipedrive:activity:9:created",
                ADDED,
                {"type": "call", "subject": "Intro", "done": False},
                (1, None, 42),
            )
        ],
        id="activity.created: first sight, add_time",
    ),
    pytest.param(
        activity,
        rec(9, type="call", done=False),
        rec(9, type="call", done=True, marked_as_done_time=DONE, update_time=LATER),
        [
            a(
                "pipedrive.activity.completed",
                "pipedrive:activity:9:completed:2026-03-06T15:45:00Z",
                DONE,
                {"type": "call", "marked_as_done_time": DONE},
            )
        ],
        id="activity.completed: done became true, occurred_at marked_as_done_time",
    ),
    pytest.param(
        activity,
        None,
        rec(9, type="call", done=True, marked_as_done_time=DONE),
        [
            a(
                "pipedrive.activity.created",
                "pipedrive:activity:9:created",
                ADDED,
                {"type": "call", "done": True},
            ),
            a(
                "pipedrive.activity.completed",
                "pipedrive:activity:9:completed:2026-03-06T15:45:00Z",
                DONE,
                {"type": "call", "marked_as_done_time": DONE},
            ),
        ],
        id="activity first seen done: created and completed",
    ),
    pytest.param(
        activity,
        rec(9, done=True, marked_as_done_time=DONE),
        rec(9, done=True, marked_as_done_time=DONE, subject="x", update_time=LATER),
        [],
        id="activity.completed: not again while done stays true",
    ),
    pytest.param(
        partial(derived_from_pipedrive_activity, deleted=True),
        None,
        rec(9, done=True, marked_as_done_time=DONE, is_deleted=True),
        [],
        id="activity deleted: nothing",
    ),
    # --- leads
    pytest.param(
        lead,
        None,
        rec(
            LEAD,
            title="Lead",
            source_name="API",
            person_id=1,
            organization_id=7,
            custom_fields=CUSTOM,
        ),
        [
            a(
                "pipedrive.lead.created",
                f"pipedrive:lead:{LEAD}:created",
                ADDED,
                {"title": "Lead", "source_name": "API", "custom_fields": CUSTOM},
                (1, 7, None),
            )
        ],
        id="lead.created: first sight of a lead not deleted, on its person, add_time",
    ),
    pytest.param(
        partial(_derived_from_lead, deleted=True),
        None,
        rec(LEAD, title="Lead", person_id=1, is_deleted=True),
        [],
        id="lead first seen deleted: nothing",
    ),
    pytest.param(
        lead,
        rec(LEAD, title="Lead"),
        rec(LEAD, title="Lead 2", update_time=LATER),
        [],
        id="lead: nothing after first sight",
    ),
]


@pytest.mark.parametrize(("derive", "old", "new", "expected"), ROWS)
def test_derived_activities(derive, old, new, expected):
    assert derived(derive(old, new)) == expected


CONVERTED = [
    pytest.param(
        (1, 7),
        [
            a(
                "pipedrive.lead.converted",
                f"pipedrive:lead:{LEAD}:converted",
                ADDED,
                {"lead_id": LEAD, "title": "Big", "value": 100, "currency": "EUR"},
                (1, 7, 42),
            )
        ],
        id="lead.converted: on the lead's person and the deal, the deal's add_time, once per lead",
    ),
    pytest.param(
        None,
        [
            a(
                "pipedrive.lead.converted",
                f"pipedrive:lead:{LEAD}:converted",
                ADDED,
                {"lead_id": LEAD, "title": "Big", "value": 100, "currency": "EUR"},
                (2, 8, 42),
            )
        ],
        id="lead.converted: on the deal's person when the CDP never held the lead",
    ),
]


@pytest.mark.parametrize(("parties", "expected"), CONVERTED)
def test_lead_converted(parties, expected):
    new_deal = rec(
        42, title="Big", value=100, currency="EUR", person_id=2, org_id=8, source_lead_id=LEAD
    )
    assert derived(lead_converted(new_deal, LEAD, parties)) == expected


CHANGES = [
    pytest.param(
        {"a": 1, "b": 2},
        {"a": 1},
        {},
        id="changes: only fields present in the new record",
    ),
    pytest.param(
        {"id": 1, "update_time": ADDED, "is_deleted": False, "active_flag": True},
        {"id": 2, "update_time": LATER, "is_deleted": True, "active_flag": False},
        {},
        id="changes: id, update_time, is_deleted, active_flag are not tracked",
    ),
    pytest.param(
        {},
        {"unknown_fields": ["marketing_status"], "_sdc_table_version": 3},
        {},
        id="changes: unknown_fields and Singer _sdc_* columns are never changes",
    ),
    pytest.param(
        {"custom_fields.tier": "a", "custom_fields": {"tier": "a"}},
        {"custom_fields.tier": "b", "custom_fields": {"tier": "c"}},
        {
            '"custom_fields.tier"': {"old": "a", "new": "b"},
            "custom_fields.tier": {"old": "a", "new": "c"},
        },
        id="changes: top-level key custom_fields.tier and custom field tier are two fields",
    ),
    pytest.param(
        {"custom_fields": {"tier": "a"}},
        {"custom_fields": None},
        {},
        id="changes: custom fields compared one by one (a null object removes none)",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), CHANGES)
def test_changes(old, new, expected):
    assert changes(old, new) == expected


DELETED = [
    pytest.param("deal", {"is_deleted": True}, True, id="deleted: is_deleted true (any kind)"),
    pytest.param("lead", {"is_deleted": True}, True, id="deleted: is_deleted true (lead)"),
    pytest.param("deal", {"status": "deleted"}, True, id="deleted: deal status deleted"),
    pytest.param("person", {"active_flag": False}, True, id="deleted: person active_flag false"),
    pytest.param(
        "organization", {"active_flag": False}, True, id="deleted: organization active_flag false"
    ),
    pytest.param("note", {"active_flag": False}, True, id="deleted: note active_flag false"),
    pytest.param("deal", {"active_flag": False}, False, id="not deleted: deal active_flag false"),
    pytest.param(
        "activity", {"active_flag": False}, False, id="not deleted: activity active_flag false"
    ),
    pytest.param("person", {"status": "deleted"}, False, id="not deleted: person status deleted"),
    pytest.param("person", {"active_flag": True}, False, id="not deleted: active"),
]


@pytest.mark.parametrize(("kind", "record", "expected"), DELETED)
def test_is_deleted(kind, record, expected):
    assert is_deleted(kind, record) is expected
