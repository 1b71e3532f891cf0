"""API v1 history: ``GET /recents`` and ``GET /persons/{id}/changelog``, ``/deals/{id}/changelog``.

Recents lists every record whose update time is at or after ``since_timestamp`` (the spec says
"after"; the sandbox includes the boundary second like every other Pipedrive time filter, so a
client re-reading from its last seen time misses nothing), oldest first, deleted records
included (their v1 ``active_flag``/``deleted`` tell the deletion).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from pipedrive_sandbox import timefmt, v1_shapes
from pipedrive_sandbox.api_v1 import offset_page
from pipedrive_sandbox.api_v2 import parse_id
from pipedrive_sandbox.errors import BadRequestError, NotFoundError
from pipedrive_sandbox.params import limit_of, validate
from pipedrive_sandbox.routing import Request, Response
from pipedrive_sandbox.store import Store

# recents item name -> store kind (entity items), in the order ties are broken
ENTITY_ITEMS = {
    "person": "persons",
    "organization": "organizations",
    "deal": "deals",
    "activity": "activities",
    "note": "notes",
}
CATALOG_ITEMS = ("user", "pipeline", "stage", "activityType")
_ITEM_ORDER = (*ENTITY_ITEMS, *CATALOG_ITEMS)


def _catalog_entries(store: Store, items: set[str], since: int) -> list[tuple[int, int, int]]:
    entries = []
    sources = {
        "user": (store.catalog.users, "modified"),
        "pipeline": (store.catalog.pipelines, "update_time"),
        "stage": (store.catalog.stages, "update_time"),
        "activityType": (store.catalog.activity_types, "update_time"),
    }
    for item, (rows, field) in sources.items():
        if item not in items:
            continue
        for row in rows:
            stamp = row[field]
            if not stamp:
                continue
            ts = timefmt.parse_rfc3339(stamp) if "T" in stamp else timefmt.parse_v1(stamp)
            if ts >= since:
                entries.append((ts, _ITEM_ORDER.index(item), row["id"]))
    return entries


def _entries(store: Store, items: set[str], since: int) -> np.ndarray:
    """(update time, item index, id) rows changed at or after ``since``, oldest first."""
    parts = []
    for item, kind in ENTITY_ITEMS.items():
        if item not in items:
            continue
        rows = np.flatnonzero(store.columns[kind]["upd"] >= since)
        part = np.empty((len(rows), 3), np.int64)
        part[:, 0] = store.columns[kind]["upd"][rows]
        part[:, 1] = _ITEM_ORDER.index(item)
        part[:, 2] = rows + 1
        parts.append(part)
    catalog = _catalog_entries(store, items, since)
    if catalog:
        parts.append(np.array(catalog, np.int64))
    table = np.concatenate(parts) if parts else np.empty((0, 3), np.int64)
    return table[np.lexsort((table[:, 2], table[:, 1], table[:, 0]))]


def _render(store: Store, item: str, record_id: int) -> dict[str, Any]:
    if item in ENTITY_ITEMS:
        record = store.get(ENTITY_ITEMS[item], record_id)
        renderers = {
            "person": v1_shapes.person,
            "organization": v1_shapes.organization,
            "deal": v1_shapes.deal,
            "activity": v1_shapes.activity,
            "note": v1_shapes.note,
        }
        return renderers[item](store, record)
    catalog = store.catalog
    if item == "user":
        return dict(catalog.user(record_id) or {})
    if item == "pipeline":
        return v1_shapes.pipeline(next(p for p in catalog.pipelines if p["id"] == record_id))
    if item == "stage":
        return v1_shapes.stage(next(s for s in catalog.stages if s["id"] == record_id))
    return dict(next(t for t in catalog.activity_types if t["id"] == record_id))


def list_recents(req: Request) -> Response:
    """GET /v1/recents."""
    store = req.sandbox.store
    q = validate("v1", "/recents", req.query, unknown_params=req.sandbox.config.unknown_params)
    since = q["since_timestamp"]
    items = set(q.get("items") or _ITEM_ORDER)
    limit, start = limit_of(q), q.get("start", 0)
    if start < 0:
        raise BadRequestError(f"Parameter 'start' must not be negative (got {start})")
    with store.lock:
        signature = ("recents", since, tuple(sorted(items)))
        table = store.cached("*", signature, lambda: _entries(store, items, since))
        page, pagination = offset_page(table, start, limit)
        data = [
            {
                "item": _ITEM_ORDER[int(row[1])],
                "id": int(row[2]),
                "data": _render(store, _ITEM_ORDER[int(row[1])], int(row[2])),
            }
            for row in page
        ]
    pagination.pop("next_start", None)  # the recents schema has no next_start
    last = timefmt.v1(int(page[-1][0])) if page else timefmt.v1(since)
    additional = {
        "since_timestamp": timefmt.v1(since),
        "last_timestamp_on_page": last,
        "pagination": pagination,
    }
    return Response(200, {"success": True, "data": data, "additional_data": additional})


def _decode_cursor(text: str) -> int:
    """Changelog cursors look like Pipedrive's (``aWQ6NTQ0`` = ``id:544``)."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequestError("Invalid cursor: the value of 'cursor' is malformed") from exc
    prefix, _, number = raw.partition(":")
    if prefix != "id" or not number.isdigit():
        raise BadRequestError("Invalid cursor: the value of 'cursor' is malformed")
    return int(number)


def _changelog(req: Request, kind: str) -> Response:
    store = req.sandbox.store
    q = validate("v1", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    limit = limit_of(q)
    record_id = parse_id(req.params["id"])
    if store.get(kind, record_id) is None:
        raise NotFoundError()
    rows = store.changelog.rows(kind, record_id)  # newest first; sequence = len - index
    position = 0
    if "cursor" in q:
        sequence = _decode_cursor(q["cursor"])
        position = max(0, len(rows) - sequence)
    page = rows[position : position + limit]
    following = position + limit
    next_cursor = None
    if following < len(rows):
        next_cursor = base64.b64encode(f"id:{len(rows) - following}".encode()).decode().rstrip("=")
    return Response(
        200, {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}
    )


def person_changelog(req: Request) -> Response:
    """GET /v1/persons/{id}/changelog."""
    return _changelog(req, "persons")


def deal_changelog(req: Request) -> Response:
    """GET /v1/deals/{id}/changelog."""
    return _changelog(req, "deals")
