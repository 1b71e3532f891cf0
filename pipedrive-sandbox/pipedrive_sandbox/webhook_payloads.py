"""Webhook v2 payloads: ``{meta, data, previous}`` built from a record change.

Pipedrive's webhook ``data`` is not the API v2 shape (notes section 8, PD-MIG): ids in ``meta``
are strings, ``visible_to`` is a string, custom fields are typed wrappers
(``{"type": "enum", "id": 17}``, ``{"type": "set", "values": [{"id": 13}]}``,
``{"type": "monetary", "value": 200, "currency": "EUR"}``, ``{"type": "daterange", "from": ...,
"until": ...}``), activities keep v1's ``active_flag``/``busy_flag``, notes carry v1's fields with
RFC 3339 times. ``previous`` holds only the changed fields' old values (custom fields: only the
changed keys). The spec has no schema for deliveries; these shapes follow Pipedrive's guide.
Pure functions: the delivery worker adds ``webhook_id``, ``webhook_owner_id`` and ``attempt``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.catalog import COMPANY_DOMAIN, COMPANY_ID
from pipedrive_sandbox.custom_fields import CustomField

ENTITIES = {
    "persons": "person",
    "organizations": "organization",
    "deals": "deal",
    "activities": "activity",
    "notes": "note",
}
# The person fields Pipedrive's guide shows in a person webhook (plus the v2 label_ids).
_PERSON_FIELDS = (
    "id",
    "name",
    "first_name",
    "last_name",
    "owner_id",
    "org_id",
    "add_time",
    "update_time",
    "emails",
    "phones",
    "label",
    "label_ids",
    "visible_to",
    "custom_fields",
)
_NOTE_FIELDS = (
    "id",
    "user_id",
    "deal_id",
    "person_id",
    "org_id",
    "lead_id",
    "project_id",
    "active_flag",
    "content",
    "add_time",
    "update_time",
    "pinned_to_deal_flag",
    "pinned_to_organization_flag",
    "pinned_to_person_flag",
    "pinned_to_lead_flag",
    "pinned_to_project_flag",
)
# Control API changes are made "as if in the Pipedrive app"; REST API writes are "api".
CHANGE_SOURCES = {"api": "api", "control": "app"}


@dataclass(frozen=True)
class RecordEvent:
    """One change of one record, as the store saw it."""

    action: str  # create | change | delete
    kind: str  # persons, organizations, deals, activities, notes
    record_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: str  # api | control
    timestamp: int
    is_bulk_edit: bool = False
    merge: dict[str, int] = field(default_factory=dict)  # merged_to_id / merged_from_id


def _range(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    rest = {k: v for k, v in value.items() if k not in ("value", "until")}
    return {"type": kind, "from": value["value"], "until": value.get("until"), **rest}


_WRAPPERS = {
    "enum": lambda value: {"type": "enum", "id": value},
    "set": lambda value: {"type": "set", "values": [{"id": option} for option in value]},
    "daterange": lambda value: _range("daterange", value),
}


def custom_value(cf: CustomField, value: Any) -> Any:
    """A custom field value as webhooks carry it: a wrapper naming the field type."""
    if value is None:
        return None
    kind = cf.field_type
    if kind in _WRAPPERS:
        return _WRAPPERS[kind](value)
    if kind == "time" and "until" in value:
        return _range("timerange", value)
    if isinstance(value, dict):
        return {"type": kind, **value}
    return {"type": kind, "value": value}


def record_data(kind: str, record: dict[str, Any], defs: list[CustomField]) -> dict[str, Any]:
    """A stored record (v2 shape; notes v1) in webhook ``data`` shape."""
    if kind == "notes":
        data = {name: record.get(name) for name in _NOTE_FIELDS}
        data["add_time"] = timefmt.v2(timefmt.parse_v1(record["add_time"]))
        data["update_time"] = timefmt.v2(timefmt.parse_v1(record["update_time"]))
        return data
    data = {k: v for k, v in record.items() if k not in ("is_deleted", "custom_fields")}
    if kind == "persons":
        labels = record.get("label_ids") or []
        data["label"] = labels[0] if labels else None
        data = {name: data.get(name) for name in _PERSON_FIELDS if name != "custom_fields"}
    if kind == "activities":
        data["active_flag"] = not record["is_deleted"]
        data["busy_flag"] = record.get("busy")
    if data.get("visible_to") is not None:
        data["visible_to"] = str(data["visible_to"])
    by_key = {cf.key: cf for cf in defs}
    custom = record.get("custom_fields")
    if custom is not None:
        data["custom_fields"] = {
            key: custom_value(by_key[key], value) if key in by_key else value
            for key, value in custom.items()
        }
    return data


def previous_of(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The old values of the fields that changed (custom fields key by key)."""
    previous: dict[str, Any] = {}
    for name, old in before.items():
        if name == "custom_fields":
            new_custom = after.get("custom_fields") or {}
            changed = {k: v for k, v in (old or {}).items() if new_custom.get(k) != v}
            if changed:
                previous["custom_fields"] = changed
        elif after.get(name) != old:
            previous[name] = old
    return previous


def payload(
    event: RecordEvent, defs: list[CustomField], user_id: int, permitted_user_ids: list[int]
) -> dict[str, Any]:
    """The delivery body of one event, without the per-webhook ``meta`` fields."""
    before = record_data(event.kind, event.before, defs) if event.before is not None else None
    after = record_data(event.kind, event.after, defs) if event.after is not None else None
    if event.action == "create":
        data, previous = after, None
    elif event.action == "delete":
        data, previous = None, before
    else:
        data, previous = after, previous_of(before or {}, after or {})
    stamp = timefmt.v2(event.timestamp).removesuffix("Z") + ".000Z"
    meta: dict[str, Any] = {
        "action": event.action,
        "entity": ENTITIES[event.kind],
        "entity_id": str(event.record_id),
        "company_id": str(COMPANY_ID),
        "correlation_id": str(uuid.uuid4()),
        "id": str(uuid.uuid4()),
        "is_bulk_edit": event.is_bulk_edit,
        "timestamp": stamp,
        "type": "general",
        "user_id": str(user_id),
        "version": "2.0",
        "change_source": CHANGE_SOURCES[event.source],
        "host": f"{COMPANY_DOMAIN}.pipedrive.com",
        "permitted_user_ids": [str(uid) for uid in permitted_user_ids],
    }
    meta |= {name: str(value) for name, value in event.merge.items()}
    return {"meta": meta, "data": data, "previous": previous}
