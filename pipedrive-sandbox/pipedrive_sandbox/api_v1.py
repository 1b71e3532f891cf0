"""API v1 read endpoints: notes (offset pagination), noteFields, activityFields, users,
users/me, activityTypes."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.catalog import COMPANY_DOMAIN, COMPANY_ID
from pipedrive_sandbox.errors import BadRequestError, NotFoundError
from pipedrive_sandbox.fields import v1_fields, v1_note_fields
from pipedrive_sandbox.params import limit_of, validate
from pipedrive_sandbox.routing import Request, Response
from pipedrive_sandbox.store import Store

DAY = timefmt.SECONDS_PER_DAY
# v1 GET /notes `sort`: "Supported fields: id, user_id, deal_id, person_id, org_id, content,
# add_time, update_time" -> the column each sorts on (content is sorted on generated text).
NOTE_SORT_COLUMNS = {
    "id": None,
    "user_id": "owner",
    "deal_id": "deal",
    "person_id": "person",
    "org_id": "org",
    "content": "content",
    "add_time": "add",
    "update_time": "upd",
}
_SORT_ITEM = re.compile(r"^\s*(\w+)(?:\s+(ASC|DESC|asc|desc))?\s*$")
_PINNED_BITS = {
    "pinned_to_deal_flag": 1,
    "pinned_to_organization_flag": 2,
    "pinned_to_person_flag": 4,
}


def offset_page(
    items: list[Any] | np.ndarray, start: int, limit: int
) -> tuple[list[Any], dict[str, Any]]:
    """Slice a list and build v1 ``additional_data.pagination``."""
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return page, pagination


def _start_of(q: dict[str, Any]) -> int:
    start = q.get("start", 0)
    if start < 0:
        raise BadRequestError(f"Parameter 'start' must not be negative (got {start})")
    return start


def parse_sort(text: str) -> list[tuple[str, bool]]:
    """``"update_time ASC, id DESC"`` -> [(field, descending)]; 400 on unsupported fields."""
    out = []
    for item in text.split(","):
        found = _SORT_ITEM.match(item)
        if not found or found.group(1) not in NOTE_SORT_COLUMNS:
            supported = ", ".join(NOTE_SORT_COLUMNS)
            raise BadRequestError(
                f"Parameter 'sort' has an unsupported item '{item.strip()}'. "
                f"Use 'field ASC' or 'field DESC' with one of: {supported}"
            )
        out.append((found.group(1), (found.group(2) or "ASC").upper() == "DESC"))
    return out


def _note_filter(a: dict[str, np.ndarray], q: dict[str, Any]) -> np.ndarray:
    """Which notes are visible and match the query's filters."""
    mask = ~a["deleted"]
    for name, column in (
        ("user_id", "owner"),
        ("deal_id", "deal"),
        ("person_id", "person"),
        ("org_id", "org"),
    ):
        if name in q:
            mask &= a[column] == q[name]
    if any(name in q for name in ("lead_id", "project_id", "task_id")):
        mask &= False  # the sandbox has no leads, projects or tasks
    if (
        q.get("pinned_to_lead_flag") == 1
        or q.get("pinned_to_project_flag") == 1
        or q.get("pinned_to_task_flag") == 1
    ):
        mask &= False
    for name, bit in _PINNED_BITS.items():
        if name in q:
            mask &= ((a["pinned"] & bit) > 0) == bool(q[name])
    if "start_date" in q:
        mask &= a["add"] >= timefmt.date_to_ts(q["start_date"])
    if "end_date" in q:
        mask &= a["add"] < timefmt.date_to_ts(q["end_date"]) + DAY
    if "updated_since" in q:
        mask &= a["upd"] >= q["updated_since"]
    return mask


def _note_rows(store: Store, q: dict[str, Any]) -> np.ndarray:
    """Row indexes of the visible notes matching the query, in the requested order."""
    a = store.columns["notes"].arrays
    rows = np.flatnonzero(_note_filter(a, q))
    sort = parse_sort(q["sort"]) if "sort" in q else [("id", False)]
    keys: list[np.ndarray] = [rows]  # the id is always the last tie-breaker
    for field, descending in reversed(sort):
        column = NOTE_SORT_COLUMNS[field]
        if column is None:
            values: np.ndarray = rows.astype(np.int64)
        elif column == "content":
            texts = [store.get("notes", int(r) + 1)["content"] for r in rows]
            values = np.unique(texts, return_inverse=True)[1] if texts else rows
        else:
            values = a[column][rows].astype(np.int64)
        keys.append(-values if descending else values)
    return rows[np.lexsort(keys)]


def render_note(store: Store, note: dict[str, Any]) -> dict[str, Any]:
    """A stored note with the related objects v1 embeds (deal, person, organization, user)."""
    out = dict(note)
    out["deal"] = {"title": store.deal_title(note["deal_id"])} if note["deal_id"] else None
    out["person"] = {"name": store.person_name(note["person_id"])} if note["person_id"] else None
    out["organization"] = (
        {"name": store.organization_name(note["org_id"])} if note["org_id"] else None
    )
    out["project"] = None
    out["task"] = None
    user = store.catalog.user(note["user_id"])
    out["user"] = (
        {
            "email": user["email"],
            "icon_url": user["icon_url"],
            "is_you": user["is_you"],
            "name": user["name"],
        }
        if user
        else None
    )
    return out


def list_notes(req: Request) -> Response:
    """GET /v1/notes: offset pagination, ``sort``, ``updated_since`` and entity filters."""
    store = req.sandbox.store
    q = validate("v1", "/notes", req.query, unknown_params=req.sandbox.config.unknown_params)
    limit, start = limit_of(q), _start_of(q)
    with store.lock:
        signature = tuple(sorted((k, str(v)) for k, v in q.items() if k not in ("start", "limit")))
        rows = store.cached("notes", ("v1-notes", signature), lambda: _note_rows(store, q))
        page, pagination = offset_page(rows, start, limit)
        data = [render_note(store, n) for n in store.get_many("notes", [int(r) + 1 for r in page])]
    return Response(
        200, {"success": True, "data": data, "additional_data": {"pagination": pagination}}
    )


def get_note(req: Request) -> Response:
    """GET /v1/notes/{id}."""
    validate("v1", "/notes/{id}", req.query, unknown_params=req.sandbox.config.unknown_params)
    text = req.params["id"]
    note = req.sandbox.store.get("notes", int(text)) if text.isdigit() else None
    if note is None or not note["active_flag"]:
        raise NotFoundError("Note not found")
    return Response(200, {"success": True, "data": render_note(req.sandbox.store, note)})


def _field_list(fields: list[dict[str, Any]]) -> Response:
    """A v1 field catalog: everything in one page (these endpoints take no paging)."""
    pagination = {"start": 0, "limit": len(fields), "more_items_in_collection": False}
    return Response(
        200, {"success": True, "data": fields, "additional_data": {"pagination": pagination}}
    )


def list_note_fields(req: Request) -> Response:
    """GET /v1/noteFields."""
    validate("v1", "/noteFields", req.query, unknown_params=req.sandbox.config.unknown_params)
    return _field_list(v1_note_fields())


def list_activity_fields(req: Request) -> Response:
    """GET /v1/activityFields (needs only ``activities:read``, where v2 needs ``admin``)."""
    validate("v1", "/activityFields", req.query, unknown_params=req.sandbox.config.unknown_params)
    return _field_list(v1_fields(req.sandbox.store, "activities"))


def list_users(req: Request) -> Response:
    """GET /v1/users."""
    validate("v1", "/users", req.query, unknown_params=req.sandbox.config.unknown_params)
    return Response(200, {"success": True, "data": req.sandbox.store.catalog.users})


def current_user(req: Request) -> Response:
    """GET /v1/users/me: the token's user plus company data (``company_domain``)."""
    validate("v1", "/users/me", req.query, unknown_params=req.sandbox.config.unknown_params)
    me = dict(req.sandbox.store.catalog.users[0])
    me |= {
        "company_id": COMPANY_ID,
        "company_name": "Sandbox Company OÜ",
        "company_domain": COMPANY_DOMAIN,
        "company_country": "EE",
        "company_industry": "Software",
        "language": {"language_code": "en", "country_code": "US"},
    }
    return Response(200, {"success": True, "data": me})


def list_activity_types(req: Request) -> Response:
    """GET /v1/activityTypes."""
    validate("v1", "/activityTypes", req.query, unknown_params=req.sandbox.config.unknown_params)
    return Response(200, {"success": True, "data": req.sandbox.store.catalog.activity_types})
