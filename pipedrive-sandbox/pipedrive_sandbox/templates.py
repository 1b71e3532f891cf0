"""Defaults for records created through the write or control API (what Pipedrive fills in)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipedrive_sandbox import timefmt

if TYPE_CHECKING:
    from pipedrive_sandbox.store import Store


def new_record(
    store: Store, kind: str, record_id: int, fields: dict[str, Any], now: int
) -> dict[str, Any]:
    """A complete record of ``kind`` with ``fields`` applied over the defaults."""
    stamp = timefmt.v1(now) if kind == "notes" else timefmt.v2(now)
    record = _DEFAULTS[kind](store)
    custom = fields.get("custom_fields") or {}
    for name, value in fields.items():
        if name != "custom_fields":
            record[name] = copy.deepcopy(value)
    if kind in store.custom_fields:
        record["custom_fields"] = {cf.key: None for cf in store.custom_fields[kind]}
        record["custom_fields"].update(copy.deepcopy(custom))
    record = {"id": record_id, **record, "add_time": stamp, "update_time": stamp}
    if kind == "persons":
        _person_names(record, fields, marketing_app=store.marketing_app)
    if kind == "deals":
        _deal_consistency(store, record, now)
    return record


def _person_names(record: dict[str, Any], fields: dict[str, Any], *, marketing_app: bool) -> None:
    if "name" in fields and "first_name" not in fields:
        first, _, last = fields["name"].partition(" ")
        record["first_name"], record["last_name"] = first, last or None
    elif "name" not in fields:
        record["name"] = " ".join(p for p in (record["first_name"], record["last_name"]) if p)
    if (
        marketing_app
        and any(e.get("value") for e in record["emails"])
        and "marketing_status" not in fields
    ):
        record["marketing_status"] = "no_consent"


def _deal_consistency(store: Store, deal: dict[str, Any], now: int) -> None:
    if deal["stage_id"] is None:
        deal["stage_id"] = store.catalog.stages_of(deal["pipeline_id"])[0]["id"]
    stage = next(s for s in store.catalog.stages if s["id"] == deal["stage_id"])
    deal["pipeline_id"] = stage["pipeline_id"]
    stamp, today = timefmt.v2(now), timefmt.day(now)
    status = deal["status"]
    if status in ("won", "lost"):
        deal["close_time"] = deal["close_time"] or stamp
        deal["local_close_date"] = today
    if status == "won":
        deal["won_time"] = deal["won_time"] or stamp
        deal["local_won_date"] = today
    if status == "lost":
        deal["lost_time"] = deal["lost_time"] or stamp
        deal["local_lost_date"] = today
    if deal["is_archived"] and not deal["archive_time"]:
        deal["archive_time"] = stamp


def _person(store: Store) -> dict[str, Any]:
    person = {
        "name": None,
        "first_name": None,
        "last_name": None,
        "owner_id": 1,
        "org_id": None,
        "emails": [],
        "phones": [],
        "is_deleted": False,
        "visible_to": 3,
        "label_ids": [],
        "picture_id": None,
        "marketing_status": "no_consent",
        "doi_status": None,
    }
    if not store.marketing_app:
        del person["marketing_status"], person["doi_status"]
    return person


def _organization() -> dict[str, Any]:
    return {
        "name": None,
        "owner_id": 1,
        "is_deleted": False,
        "visible_to": 3,
        "address": None,
        "label_ids": [],
        "website": None,
        "linkedin": None,
        "industry": None,
        "annual_revenue": None,
        "employee_count": None,
    }


def _deal(store: Store) -> dict[str, Any]:
    return {
        "title": None,
        "creator_user_id": 1,
        "owner_id": 1,
        "person_id": None,
        "org_id": None,
        "pipeline_id": store.catalog.pipelines[0]["id"],
        "stage_id": None,
        "value": 0.0,
        "currency": "EUR",
        "stage_change_time": None,
        "is_deleted": False,
        "is_archived": False,
        "archive_time": None,
        "status": "open",
        "probability": None,
        "lost_reason": None,
        "visible_to": 3,
        "close_time": None,
        "won_time": None,
        "lost_time": None,
        "local_won_date": None,
        "local_lost_date": None,
        "local_close_date": None,
        "expected_close_date": None,
        "label_ids": [],
        "origin": "API",
        "origin_id": None,
        "channel": None,
        "channel_id": None,
        "source_lead_id": None,
        "arr": None,
        "mrr": None,
        "acv": None,
    }


def _activity(store: Store) -> dict[str, Any]:
    return {
        "subject": None,
        "type": "task",
        "owner_id": 1,
        "creator_user_id": 1,
        "is_deleted": False,
        "deal_id": None,
        "lead_id": None,
        "person_id": None,
        "org_id": None,
        "project_id": None,
        "due_date": timefmt.day(store.clock.now()),
        "due_time": None,
        "duration": None,
        "busy": False,
        "done": False,
        "marked_as_done_time": None,
        "location": None,
        "participants": [],
        "attendees": [],
        "conference_meeting_client": None,
        "conference_meeting_url": None,
        "conference_meeting_id": None,
        "public_description": None,
        "priority": None,
        "note": None,
    }


def _note() -> dict[str, Any]:
    return {
        "active_flag": True,
        "content": "",
        "user_id": 1,
        "last_update_user_id": 1,
        "deal_id": None,
        "person_id": None,
        "org_id": None,
        "lead_id": None,
        "project_id": None,
        "task_id": None,
        "pinned_to_lead_flag": False,
        "pinned_to_deal_flag": False,
        "pinned_to_organization_flag": False,
        "pinned_to_person_flag": False,
        "pinned_to_project_flag": False,
        "pinned_to_task_flag": False,
    }


_DEFAULTS: dict[str, Callable[[Store], dict[str, Any]]] = {
    "persons": _person,
    "organizations": lambda _store: _organization(),
    "deals": _deal,
    "activities": _activity,
    "notes": lambda _store: _note(),
}


def known_fields(store: Store, kind: str) -> set[str]:
    """Field names a record of ``kind`` has (for rejecting unknown fields in writes)."""
    base = set(_DEFAULTS[kind](store))
    base |= {"id", "add_time", "update_time"}
    if kind in store.custom_fields:
        base.add("custom_fields")
    return base
