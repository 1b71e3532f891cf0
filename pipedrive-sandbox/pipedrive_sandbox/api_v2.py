"""API v2 read endpoints: entity lists with cursor pagination, single records, field catalogs,
pipelines and stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.columns import STATUSES
from pipedrive_sandbox.cursor import Cursor, decode, encode
from pipedrive_sandbox.custom_fields import render_with_labels
from pipedrive_sandbox.errors import BadRequestError, NotFoundError
from pipedrive_sandbox.fields import entity_of, v2_fields
from pipedrive_sandbox.params import int_list, limit_of, validate
from pipedrive_sandbox.relations import include_field_values
from pipedrive_sandbox.routing import Request, Response
from pipedrive_sandbox.store import ID_BITS, ID_MASK, Store

DAY = timefmt.SECONDS_PER_DAY
DELETED_DEALS_VISIBLE_FOR = 30 * DAY
MAX_IDS = 100
MAX_CUSTOM_FIELD_KEYS = 15
# Fields of the stored records that API v2 returns only when asked via include_fields.
OPTIONAL_FIELDS = {
    "persons": ("marketing_status", "doi_status"),
    "deals": ("source_lead_id",),
    "activities": ("attendees",),
}
# Spec v2 GET /persons and /persons/{id}, include_fields: "marketing_status and doi_status can
# only be included if the company has marketing app enabled".
MARKETING_FIELDS = ("marketing_status", "doi_status")

Arrays = dict[str, np.ndarray]
Condition = Callable[[Arrays], np.ndarray]


@dataclass(frozen=True)
class EntityList:
    """What one v2 list endpoint serves and which quick filters map to which column."""

    kind: str
    filters: dict[str, str]
    archived: bool | None = None  # deals: False for /deals, True for /deals/archived


_DEAL_FILTERS = {
    "owner_id": "owner",
    "person_id": "person",
    "org_id": "org",
    "pipeline_id": "pipeline",
    "stage_id": "stage",
}
LISTS = {
    "/persons": EntityList("persons", {"owner_id": "owner", "org_id": "org"}),
    "/organizations": EntityList("organizations", {"owner_id": "owner"}),
    "/deals": EntityList(
        "deals",
        _DEAL_FILTERS,
        archived=False,
    ),
    "/deals/archived": EntityList(
        "deals",
        _DEAL_FILTERS,
        archived=True,
    ),
    "/activities": EntityList(
        "activities",
        {"owner_id": "owner", "deal_id": "deal", "person_id": "person", "org_id": "org"},
    ),
}


def _equals(column: str, value: int) -> Condition:
    return lambda a: a[column] == value


def _conditions(spec: EntityList, q: dict[str, Any], store: Store) -> list[tuple[Any, Condition]]:
    """(signature part, row condition) pairs for every filter in the query."""
    if "filter_id" in q:
        raise NotFoundError(f"Filter with id {q['filter_id']} was not found")
    conds: list[tuple[Any, Condition]] = []
    for name, column in spec.filters.items():
        if name in q:
            conds.append(((name, q[name]), _equals(column, q[name])))
    if spec.kind == "persons" and "deal_id" in q:
        deal = store.get("deals", q["deal_id"])
        person = (deal or {}).get("person_id") or 0  # 0 matches nobody
        conds.append(
            (("deal_id", q["deal_id"], person), lambda a: np.arange(1, len(a["add"]) + 1) == person)
        )
    if spec.kind == "activities":
        if "done" in q:
            conds.append((("done", q["done"]), _equals("done", q["done"])))
        if "lead_id" in q:  # the sandbox has no leads
            conds.append((("lead_id", q["lead_id"]), lambda a: np.zeros(len(a["add"]), np.bool_)))
    if "ids" in q:
        wanted = np.array(int_list("ids", q["ids"], maximum=MAX_IDS), np.int64)
        conds.append(
            (
                ("ids", tuple(wanted.tolist())),
                lambda a: np.isin(np.arange(1, len(a["add"]) + 1), wanted),
            )
        )
    if "updated_since" in q:
        conds.append((("since", q["updated_since"]), lambda a: a["upd"] >= q["updated_since"]))
    if "updated_until" in q:
        conds.append((("until", q["updated_until"]), lambda a: a["upd"] < q["updated_until"]))
    return conds


def _visibility(spec: EntityList, q: dict[str, Any], now: int) -> tuple[Any, Condition]:
    """Which rows the endpoint can return at all (deleted/archived rules)."""
    if spec.kind != "deals":
        return "live", lambda a: ~a["deleted"]
    archived = spec.archived
    statuses = q.get("status")
    if statuses is None:
        return ("deals", archived), lambda a: (a["archived"] == archived) & ~a["deleted"]
    codes = [STATUSES.index(s) for s in statuses if s != "deleted"]
    cutoff = now - DELETED_DEALS_VISIBLE_FOR if "deleted" in statuses else None

    def condition(a: Arrays) -> np.ndarray:
        shown = ~a["deleted"] & np.isin(a["status"], codes)
        if cutoff is not None:
            shown |= a["deleted"] & (a["upd"] >= cutoff)
        return (a["archived"] == archived) & shown

    return ("deals", archived, tuple(sorted(statuses)), cutoff), condition


def _start_key(cursor: Cursor | None, sort_by: str) -> int | None:
    if cursor is None:
        return None
    if sort_by == "id":
        return cursor.id
    try:
        if sort_by == "due_date":
            value = timefmt.date_to_ts(timefmt.parse_date(str(cursor.value))) // DAY
        else:
            value = timefmt.parse_rfc3339(str(cursor.value))
    except ValueError as exc:
        raise BadRequestError("Invalid cursor: the value of 'cursor' is malformed") from exc
    return (value << ID_BITS) | cursor.id


def _cursor_for(key: int, sort_by: str, direction: str) -> str:
    record_id = key & ID_MASK
    value: int | str
    if sort_by == "id":
        value = record_id
    elif sort_by == "due_date":
        value = timefmt.day((key >> ID_BITS) * DAY)
    else:
        value = timefmt.v2(key >> ID_BITS)
    return encode(Cursor(sort_by, value, direction, record_id))


def check_marketing_app(store: Store, kind: str, q: dict[str, Any]) -> None:
    """400 for ``include_fields=marketing_status|doi_status`` on an account without the
    marketing app (``--no-marketing-app``)."""
    if kind != "persons" or store.marketing_app:
        return
    asked = [name for name in q.get("include_fields") or [] if name in MARKETING_FIELDS]
    if asked:
        raise BadRequestError(
            f"Parameter 'include_fields': {' and '.join(asked)} can only be included if the "
            "company has marketing app enabled"
        )


def render(store: Store, kind: str, record: dict[str, Any], q: dict[str, Any]) -> dict[str, Any]:
    """A stored record as API v2 returns it for this query's include/custom field options."""
    out = dict(record)
    include = q.get("include_fields") or []
    for name in OPTIONAL_FIELDS.get(kind, ()):
        if name not in include:
            out.pop(name, None)
    if include:
        out |= include_field_values(store, kind, record, include)
    if "custom_fields" in out:
        custom = out["custom_fields"]
        wanted = q.get("custom_fields")
        if wanted is not None:
            custom = {key: custom[key] for key in wanted if key in custom}
        if q.get("include_option_labels"):
            custom = render_with_labels(store.custom_fields[kind], custom)
        out["custom_fields"] = custom
    return out


def list_entities(req: Request) -> Response:
    """GET /persons, /organizations, /deals, /deals/archived, /activities."""
    spec = LISTS[req.template]
    store = req.sandbox.store
    q = validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    limit = limit_of(q)
    check_marketing_app(store, spec.kind, q)
    if len(q.get("custom_fields") or []) > MAX_CUSTOM_FIELD_KEYS:
        raise BadRequestError(
            f"Parameter 'custom_fields' accepts at most {MAX_CUSTOM_FIELD_KEYS} keys"
        )
    sort_by, direction = q.get("sort_by", "id"), q.get("sort_direction", "asc")
    cursor = decode(q["cursor"], sort_by=sort_by, direction=direction) if "cursor" in q else None
    with store.lock:
        parts = [_visibility(spec, q, req.sandbox.clock.now()), *_conditions(spec, q, store)]
        signature = tuple(part for part, _ in parts)
        conditions = [cond for _, cond in parts]

        def mask(arrays: Arrays) -> np.ndarray:
            result = conditions[0](arrays)
            for cond in conditions[1:]:
                result &= cond(arrays)
            return result

        keys = store.sorted_keys(spec.kind, sort_by, signature, mask)
        ids, next_key = store.page(
            keys, _start_key(cursor, sort_by), descending=direction == "desc", limit=limit
        )
        data = [render(store, spec.kind, r, q) for r in store.get_many(spec.kind, ids)]
    next_cursor = None if next_key is None else _cursor_for(next_key, sort_by, direction)
    return Response(
        200, {"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}}
    )


_SINGLE = {
    "/persons/{id}": "persons",
    "/organizations/{id}": "organizations",
    "/deals/{id}": "deals",
    "/activities/{id}": "activities",
}


def get_entity(req: Request) -> Response:
    """GET /persons/{id} etc.: one record (deleted ones too, as Pipedrive keeps them 30 days)."""
    kind = _SINGLE[req.template]
    store = req.sandbox.store
    q = validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    check_marketing_app(store, kind, q)
    record = store.get(kind, parse_id(req.params["id"]))
    if record is None:
        raise NotFoundError()
    return Response(200, {"success": True, "data": render(store, kind, record, q)})


def parse_id(text: str) -> int:
    """A path id: a positive integer, else 400."""
    if not text.isdigit() or int(text) < 1:
        raise BadRequestError(f"Invalid id '{text}': must be a positive integer")
    return int(text)


def _paged(items: list[dict[str, Any]], q: dict[str, Any], field: str = "position") -> Response:
    """Cursor pagination over a small in-memory list already in order."""
    limit = limit_of(q)
    start = 0
    if "cursor" in q:
        start = decode(q["cursor"], sort_by=field, direction="asc").id
    page = items[start : start + limit]
    more = start + limit < len(items)
    next_cursor = encode(Cursor(field, start + limit, "asc", start + limit)) if more else None
    return Response(
        200, {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}
    )


def list_fields(req: Request) -> Response:
    """GET /personFields, /organizationFields, /dealFields, /activityFields."""
    q = validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    include = set(q.get("include_fields") or [])
    items = v2_fields(req.sandbox.store, entity_of(req.template.strip("/")), include)
    return _paged(items, q)


def _sorted_catalog(items: list[dict[str, Any]], q: dict[str, Any]) -> Response:
    sort_by, direction = q.get("sort_by", "id"), q.get("sort_direction", "asc")
    ordered = sorted(items, key=lambda r: (r[sort_by], r["id"]), reverse=direction == "desc")
    return _paged(ordered, q)


def list_pipelines(req: Request) -> Response:
    """GET /pipelines."""
    q = validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    return _sorted_catalog(req.sandbox.store.catalog.pipelines, q)


def list_stages(req: Request) -> Response:
    """GET /stages (optionally of one pipeline)."""
    q = validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    stages = req.sandbox.store.catalog.stages
    if "pipeline_id" in q:
        stages = [s for s in stages if s["pipeline_id"] == q["pipeline_id"]]
    return _sorted_catalog(stages, q)
