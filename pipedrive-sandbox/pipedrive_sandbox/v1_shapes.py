"""Records in API v1 shape (for ``GET /v1/recents``), converted from the stored v2 records.

v1 differs from v2 (migration guide; spec v1 ``/recents``): ``active_flag``/``deleted`` instead
of ``is_deleted``, ``user_id`` for deal owners, string ``visible_to``, ``phone``/``email`` lists
(a person without e-mail gets ``[{"value": "", "primary": true}]``), times as
``YYYY-MM-DD HH:MM:SS``, and custom fields as top-level hash keys: enum ids as strings, sets as
``"1,2"``, monetary as value plus ``<key>_currency``, ranges plus ``<key>_until``, addresses as
the formatted string plus ``<key>_<subfield>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.api_v1 import render_note
from pipedrive_sandbox.catalog import COMPANY_ID

if TYPE_CHECKING:
    from pipedrive_sandbox.custom_fields import CustomField
    from pipedrive_sandbox.store import Store

_ADDRESS_PARTS = (
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


def _t(value: str | None) -> str | None:
    return timefmt.v2_to_v1(value)


def custom_v1(defs: list[CustomField], values: dict[str, Any]) -> dict[str, Any]:
    """v2 ``custom_fields`` values flattened to v1 top-level keys."""
    out: dict[str, Any] = {}
    for cf in defs:
        value = values.get(cf.key)
        kind = cf.field_type
        if value is None:
            out[cf.key] = None
        elif kind == "enum":
            out[cf.key] = str(value)
        elif kind == "set":
            out[cf.key] = ",".join(str(v) for v in value)
        elif kind == "monetary":
            out[cf.key] = value["value"]
            out[f"{cf.key}_currency"] = value["currency"]
        elif kind in ("daterange", "timerange"):
            out[cf.key] = value["value"]
            out[f"{cf.key}_until"] = value["until"]
        elif kind == "time":
            out[cf.key] = value["value"]
        elif kind == "address":
            out[cf.key] = value["value"]
            for part in _ADDRESS_PARTS:
                out[f"{cf.key}_{part}"] = value.get(part)
        else:
            out[cf.key] = value
    return out


def _user_name(store: Store, user_id: int | None) -> str | None:
    user = store.catalog.user(user_id) if user_id else None
    return user["name"] if user else None


def person(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    """A person as v1 returns it."""
    emails = p["emails"] or [{"value": "", "primary": True, "label": ""}]
    phones = p["phones"] or [{"value": "", "primary": True, "label": ""}]
    out = {
        "id": p["id"],
        "company_id": COMPANY_ID,
        "active_flag": not p["is_deleted"],
        "phone": phones,
        "email": emails,
        "first_char": (p["name"] or "?")[0].lower(),
        "add_time": _t(p["add_time"]),
        "update_time": _t(p["update_time"]),
        "visible_to": str(p["visible_to"]),
        "picture_id": _picture(p),
        "label": p["label_ids"][0] if p["label_ids"] else None,
        "label_ids": p["label_ids"],
        "org_name": store.organization_name(p["org_id"]) if p["org_id"] else None,
        "owner_name": _user_name(store, p["owner_id"]),
        "cc_email": f"sandbox-company+person{p['id']}@pipedrivemail.com",
        "owner_id": p["owner_id"],
        "org_id": p["org_id"],
        "name": p["name"],
        "first_name": p["first_name"],
        "last_name": p["last_name"],
    }
    return out | custom_v1(store.custom_fields["persons"], p["custom_fields"])


def _picture(p: dict[str, Any]) -> dict[str, Any] | None:
    if not p["picture_id"]:
        return None
    return {
        "id": p["picture_id"],
        "item_type": "person",
        "item_id": p["id"],
        "active_flag": True,
        "add_time": _t(p["add_time"]),
        # Pipedrive v1 returns MySQL zero dates for never-updated pictures (spec v1 example).
        "update_time": "0000-00-00 00:00:00",
        "added_by_user_id": p["owner_id"],
        "pictures": {
            "128": f"https://sandbox.example/pictures/{p['picture_id']}_128.jpg",
            "512": f"https://sandbox.example/pictures/{p['picture_id']}_512.jpg",
        },
    }


def organization(store: Store, o: dict[str, Any]) -> dict[str, Any]:
    """An organization as v1 returns it."""
    address = o["address"] or {}
    owner = store.catalog.user(o["owner_id"]) or {}
    out: dict[str, Any] = {
        "id": o["id"],
        "company_id": COMPANY_ID,
        "owner_id": {
            "id": o["owner_id"],
            "name": owner.get("name"),
            "email": owner.get("email"),
            "has_pic": 0,
            "pic_hash": None,
            "active_flag": owner.get("active_flag", True),
            "value": o["owner_id"],
        },
        "name": o["name"],
        "active_flag": not o["is_deleted"],
        "first_char": (o["name"] or "?")[0].lower(),
        "add_time": _t(o["add_time"]),
        "update_time": _t(o["update_time"]),
        "visible_to": str(o["visible_to"]),
        "label": o["label_ids"][0] if o["label_ids"] else None,
        "label_ids": o["label_ids"],
        "owner_name": owner.get("name"),
        "cc_email": f"sandbox-company+org{o['id']}@pipedrivemail.com",
        "address": address.get("value"),
    }
    for part in _ADDRESS_PARTS:
        out[f"address_{part}"] = (
            address.get(part) if part != "formatted_address" else (address.get("value"))
        )
    return out | custom_v1(store.custom_fields["organizations"], o["custom_fields"])


def deal(store: Store, d: dict[str, Any]) -> dict[str, Any]:
    """A deal as v1 returns it."""
    out = {
        "id": d["id"],
        "creator_user_id": d["creator_user_id"],
        "user_id": d["owner_id"],
        "person_id": d["person_id"],
        "org_id": d["org_id"],
        "stage_id": d["stage_id"],
        "title": d["title"],
        "value": d["value"],
        "currency": d["currency"],
        "add_time": _t(d["add_time"]),
        "update_time": _t(d["update_time"]),
        "stage_change_time": _t(d["stage_change_time"]),
        "active": d["status"] == "open",
        "deleted": d["is_deleted"],
        "is_archived": d["is_archived"],
        "status": d["status"],
        "probability": d["probability"],
        "lost_reason": d["lost_reason"],
        "visible_to": str(d["visible_to"]),
        "close_time": _t(d["close_time"]),
        "pipeline_id": d["pipeline_id"],
        "won_time": _t(d["won_time"]),
        "first_won_time": _t(d["won_time"]),
        "lost_time": _t(d["lost_time"]),
        "expected_close_date": d["expected_close_date"],
        "label": ",".join(str(i) for i in d["label_ids"]) or None,
        "person_name": store.person_name(d["person_id"]) if d["person_id"] else None,
        "org_name": store.organization_name(d["org_id"]) if d["org_id"] else None,
        "owner_name": _user_name(store, d["owner_id"]),
        "formatted_value": f"{d['value']:,.0f} {d['currency']}",
        "weighted_value": d["value"] * (d["probability"] or 100) / 100,
        "origin": d["origin"],
        "origin_id": d["origin_id"],
        "channel": d["channel"],
        "channel_id": d["channel_id"],
        "arr": d["arr"],
        "mrr": d["mrr"],
        "acv": d["acv"],
    }
    return out | custom_v1(store.custom_fields["deals"], d["custom_fields"])


def activity(store: Store, a: dict[str, Any]) -> dict[str, Any]:
    """An activity as v1 returns it (``HH:MM`` times, flat location fields)."""
    location = a["location"] or {}
    out = {
        "id": a["id"],
        "company_id": COMPANY_ID,
        "user_id": a["owner_id"],
        "done": a["done"],
        "type": a["type"],
        "due_date": a["due_date"],
        "due_time": (a["due_time"] or "")[:5],
        "duration": (a["duration"] or "")[:5],
        "busy_flag": a["busy"],
        "add_time": _t(a["add_time"]),
        "marked_as_done_time": _t(a["marked_as_done_time"]) or "",
        "subject": a["subject"],
        "public_description": a["public_description"] or "",
        "location": location.get("value") or "",
        "org_id": a["org_id"],
        "person_id": a["person_id"],
        "deal_id": a["deal_id"],
        "lead_id": a["lead_id"],
        "project_id": a["project_id"],
        "active_flag": not a["is_deleted"],
        "update_time": _t(a["update_time"]),
        "note": a["note"] or "",
        "created_by_user_id": a["creator_user_id"],
        "participants": [
            {"person_id": p["person_id"], "primary_flag": p["primary"]} for p in a["participants"]
        ],
        "attendees": None,
        "conference_meeting_client": a["conference_meeting_client"] or "",
        "conference_meeting_url": a["conference_meeting_url"] or "",
        "conference_meeting_id": a["conference_meeting_id"] or "",
        "org_name": store.organization_name(a["org_id"]) if a["org_id"] else "",
        "person_name": store.person_name(a["person_id"]) if a["person_id"] else "",
        "deal_title": store.deal_title(a["deal_id"]) if a["deal_id"] else "",
        "owner_name": _user_name(store, a["owner_id"]) or "",
        "assigned_to_user_id": a["owner_id"],
        "series": [],
    }
    for part in _ADDRESS_PARTS:
        out[f"location_{part}"] = location.get(part) or ""
    return out


def pipeline(p: dict[str, Any]) -> dict[str, Any]:
    """A pipeline as v1 returns it."""
    return {
        "id": p["id"],
        "name": p["name"],
        "url_title": p["name"].lower().replace(" ", "-"),
        "order_nr": p["order_nr"],
        "active": not p["is_deleted"],
        "deal_probability": p["is_deal_probability_enabled"],
        "add_time": _t(p["add_time"]),
        "update_time": _t(p["update_time"]),
    }


def stage(s: dict[str, Any]) -> dict[str, Any]:
    """A stage as v1 returns it."""
    return {
        "id": s["id"],
        "order_nr": s["order_nr"],
        "name": s["name"],
        "active_flag": not s["is_deleted"],
        "deal_probability": s["deal_probability"],
        "pipeline_id": s["pipeline_id"],
        "rotten_flag": s["is_deal_rot_enabled"],
        "rotten_days": s["days_to_rotten"],
        "add_time": _t(s["add_time"]),
        "update_time": _t(s["update_time"]),
    }


def note(store: Store, n: dict[str, Any]) -> dict[str, Any]:
    """A note as v1 returns it (with related objects)."""
    return render_note(store, n)
