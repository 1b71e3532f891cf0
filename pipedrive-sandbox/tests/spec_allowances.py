"""Where the sandbox may go beyond the letter of the response schemas, and why.

The specs omit ``nullable`` on many fields Pipedrive returns as ``null``, and leave some fields
out of a schema while showing them in the same operation's example. Rather than loosening the
whole schema, each exception is listed here per endpoint and field path, with its reason
(a quote from the spec or the research notes, ``shared/notes/pipedrive-api.md``). Anything not
listed must match the schema exactly, including "no undeclared field".
"""

from __future__ import annotations

from typing import Any

NEXT_CURSOR = (
    "spec v2 description of next_cursor: 'The value of the `next_cursor` field will be `null` "
    "if you have reached the end of the dataset and there's no more pages to be returned.'"
)
NO_LINK = "a record not linked to such an entity has no id to give: Pipedrive returns null"
ONLY_WON = "spec v2 POST /deals: 'Can only be set if deal status is won.'"
ONLY_LOST = "spec v2 POST /deals: 'Can only be set if deal status is lost.'"
ADDRESS_PART = "address parts the geocoder could not find are null (spec v1 recents example)"
NO_LEADS = "the sandbox account has no leads, projects or tasks: their ids are null"
UNSET = "an optional value nobody filled in; Pipedrive returns null, not an empty string"

_ADDRESS_NULLS = ("admin_area_level_2", "sublocality", "subpremise")
_V2_LISTS = (
    "GET /api/v2/persons",
    "GET /api/v2/organizations",
    "GET /api/v2/deals",
    "GET /api/v2/deals/archived",
    "GET /api/v2/activities",
    "GET /api/v2/personFields",
    "GET /api/v2/organizationFields",
    "GET /api/v2/dealFields",
    "GET /api/v2/activityFields",
    "GET /api/v2/pipelines",
    "GET /api/v2/stages",
)
_DEAL_NULLS = {
    "person_id": NO_LINK,
    "org_id": NO_LINK,
    "won_time": ONLY_WON,
    "lost_time": ONLY_LOST,
    "stage_change_time": "a deal that never changed stage has no stage change time",
    "expected_close_date": UNSET,
    "archive_time": "only archived deals have an archive time",
    "local_won_date": ONLY_WON,
    "local_lost_date": ONLY_LOST,
    "local_close_date": "spec v2 POST /deals close_time: 'Can only be set if deal status is "
    "won or lost.'",
}
_ACTIVITY_NULLS = {
    "deal_id": NO_LINK,
    "person_id": NO_LINK,
    "org_id": NO_LINK,
    "lead_id": NO_LEADS,
    "project_id": NO_LEADS,
    "due_time": "all-day activities have no due time",
    "duration": "all-day activities have no duration",
    "marked_as_done_time": "notes section 10: 'marked_as_done_time (null if not done)'",
    "location": "activities without a location",
    "conference_meeting_client": "activities without a video call",
    "conference_meeting_url": "activities without a video call",
    "conference_meeting_id": "activities without a video call",
    "public_description": UNSET,
    "priority": UNSET,
    "note": UNSET,
    **{f"location.{part}": ADDRESS_PART for part in _ADDRESS_NULLS},
}
_NOTE_NULLS = {
    "deal_id": NO_LINK,
    "person_id": NO_LINK,
    "org_id": NO_LINK,
    "deal": "the related deal object is null when the note is not attached to a deal",
    "person": "the related person object is null when the note is not attached to a person",
    "organization": "the related organization object is null when not attached to one",
    "lead_id": NO_LEADS,
    "project_id": NO_LEADS,
    "project": NO_LEADS,
    "task_id": NO_LEADS,
    "task": NO_LEADS,
    "user.icon_url": "spec v1 GET /users declares icon_url nullable for the same user object",
}
_CHANGELOG_NULLS = {"additional_data.next_cursor": NEXT_CURSOR}

# endpoint -> {field path: reason}. Paths: "data[].org_id" (list items), "data.org_id" (one).
NULLABLE: dict[str, dict[str, str]] = {
    **{endpoint: {"additional_data.next_cursor": NEXT_CURSOR} for endpoint in _V2_LISTS},
    "GET /api/v1/persons/{id}/changelog": _CHANGELOG_NULLS,
    "GET /api/v1/deals/{id}/changelog": _CHANGELOG_NULLS,
}


def _add(endpoint: str, prefix: str, fields: dict[str, str]) -> None:
    NULLABLE.setdefault(endpoint, {}).update({f"{prefix}{k}": v for k, v in fields.items()})


_PERSON_NULLS = {
    "org_id": NO_LINK,
    "picture_id": "persons without a profile picture",
    "last_name": "single-name persons (e.g. 'Cher') have no last name",
}
_ORG_NULLS = {"address": "organizations without an address"} | {
    f"address.{part}": ADDRESS_PART for part in _ADDRESS_NULLS
}
for _endpoint, _prefix in (
    ("GET /api/v2/persons", "data[]."),
    ("GET /api/v2/persons/{id}", "data."),
    ("POST /api/v2/persons", "data."),
    ("PATCH /api/v2/persons/{id}", "data."),
):
    _add(_endpoint, _prefix, _PERSON_NULLS)
for _endpoint, _prefix in (
    ("GET /api/v2/organizations", "data[]."),
    ("GET /api/v2/organizations/{id}", "data."),
    ("POST /api/v2/organizations", "data."),
    ("PATCH /api/v2/organizations/{id}", "data."),
):
    _add(_endpoint, _prefix, _ORG_NULLS)
for _endpoint, _prefix in (
    ("GET /api/v2/deals", "data[]."),
    ("GET /api/v2/deals/archived", "data[]."),
    ("GET /api/v2/deals/{id}", "data."),
    ("POST /api/v2/deals", "data."),
    ("PATCH /api/v2/deals/{id}", "data."),
):
    _add(_endpoint, _prefix, _DEAL_NULLS)
for _endpoint, _prefix in (
    ("GET /api/v2/activities", "data[]."),
    ("GET /api/v2/activities/{id}", "data."),
    ("POST /api/v2/activities", "data."),
    ("PATCH /api/v2/activities/{id}", "data."),
):
    _add(_endpoint, _prefix, _ACTIVITY_NULLS)
for _endpoint, _prefix in (
    ("GET /api/v1/notes", "data[]."),
    ("GET /api/v1/notes/{id}", "data."),
    ("POST /api/v1/notes", "data."),
    ("PUT /api/v1/notes/{id}", "data."),
):
    _add(_endpoint, _prefix, _NOTE_NULLS)

EXAMPLE_ONLY = "not in the schema but in the same operation's response example in the spec"
_DEAL_EXAMPLE_FIELDS: dict[str, Any] = {
    "creator_user_id": {"type": "integer"},
    "archive_time": {"type": "string"},
    "local_won_date": {"type": "string"},
    "local_lost_date": {"type": "string"},
    "local_close_date": {"type": "string"},
}
_PAGINATION = {
    "pagination": {
        "type": "object",
        "properties": {
            "start": {"type": "integer"},
            "limit": {"type": "integer"},
            "more_items_in_collection": {"type": "boolean"},
        },
        "additionalProperties": False,
    }
}
# endpoint -> {object path: {field: schema}} (reason: EXAMPLE_ONLY unless said otherwise).
EXTRA_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "GET /api/v2/deals": {"data[]": _DEAL_EXAMPLE_FIELDS},
    "GET /api/v2/deals/archived": {"data[]": _DEAL_EXAMPLE_FIELDS},
    "GET /api/v2/deals/{id}": {"data": _DEAL_EXAMPLE_FIELDS},
    "POST /api/v2/deals": {"data": _DEAL_EXAMPLE_FIELDS},
    "PATCH /api/v2/deals/{id}": {"data": _DEAL_EXAMPLE_FIELDS},
    "GET /api/v1/notes": {"data[]": {"pinned_to_lead_flag": {"type": "boolean"}}},
    "GET /api/v1/notes/{id}": {"data": {"pinned_to_lead_flag": {"type": "boolean"}}},
    "POST /api/v1/notes": {"data": {"pinned_to_lead_flag": {"type": "boolean"}}},
    "PUT /api/v1/notes/{id}": {"data": {"pinned_to_lead_flag": {"type": "boolean"}}},
    # notes section 4.1: the v1 field-list schemas (noteFields, activityFields) put start/limit/
    # more_items_in_collection directly under additional_data while the example and the
    # pagination docs nest them under additional_data.pagination; the sandbox follows the
    # nested, documented form.
    "GET /api/v1/noteFields": {"additional_data": _PAGINATION},
    "GET /api/v1/activityFields": {"additional_data": _PAGINATION},
}

# GET /v1/recents: one path per field for every item type (the item branches share paths).
_RECENT_ADDRESS = {"address": "organizations without an address"} | {
    f"address_{part}": "v1 flat address parts are null when the organization has no address "
    "or the geocoder did not find the part"
    for part in (
        "subpremise",
        "street_number",
        "route",
        "sublocality",
        "locality",
        "admin_area_level_1",
        "admin_area_level_2",
        "country",
        "postal_code",
        "formatted_address",
    )
}
_add(
    "GET /api/v1/recents",
    "data[].data.",
    _NOTE_NULLS
    | _RECENT_ADDRESS
    | {
        "won_time": ONLY_WON,
        "first_won_time": ONLY_WON,
        "lost_time": ONLY_LOST,
        "stage_change_time": _DEAL_NULLS["stage_change_time"],
        "expected_close_date": UNSET,
        "label": "records without labels (v1 label is null, label_ids is [])",
        "person_name": NO_LINK,
        "org_name": NO_LINK,
    },
)
EXTRA_FIELDS["GET /api/v1/recents"] = {
    # the note item's data is the GET /notes note, whose example includes pinned_to_lead_flag
    "data[].data": {"pinned_to_lead_flag": {"type": "boolean"}},
}
