"""GET /api/v2/persons/search: find persons by name, email, phone or a searchable custom field.

The spec (``searchPersons``, cost 20): ``term`` needs 2 characters, or 1 with ``exact_match``;
``exact_match`` is a full match that is not case sensitive, otherwise the term is found anywhere
in the value (Pipedrive ranks the results; the sandbox answers in id order with a constant
``result_score``). ``fields`` limits where to look; only custom fields of the types the spec
lists are searchable. Deleted persons are never found. Answers ``{items: [{result_score,
item}]}`` with cursor pagination, each item shaped as the spec's ``GetPersonSearchResponse``.
"""

from __future__ import annotations

from typing import Any

from pipedrive_sandbox.cursor import Cursor, decode, encode
from pipedrive_sandbox.errors import BadRequestError
from pipedrive_sandbox.params import limit_of, validate
from pipedrive_sandbox.routing import Request, Response

SEARCH_FIELDS = ("custom_fields", "email", "notes", "phone", "name")
SEARCHABLE_CUSTOM_TYPES = frozenset(
    {"address", "varchar", "text", "varchar_auto", "double", "monetary", "phone"}
)


def _values(person: dict[str, Any], field: str, searchable: set[str]) -> list[str]:
    if field == "email":
        return [e["value"] for e in person.get("emails") or [] if e.get("value")]
    if field == "phone":
        return [p["value"] for p in person.get("phones") or [] if p.get("value")]
    if field == "name":
        return [person.get("name") or ""]
    if field == "notes":
        return [person["notes"]] if isinstance(person.get("notes"), str) else []
    custom = person.get("custom_fields") or {}
    out = []
    for key in searchable & set(custom):
        value = custom[key]
        value = value.get("value") if isinstance(value, dict) else value
        if value is not None:
            out.append(str(value))
    return out


def _item(person: dict[str, Any]) -> dict[str, Any]:
    return {
        "result_score": 1.0,
        "item": {
            "id": person["id"],
            "type": "person",
            "name": person.get("name"),
            "phones": [p["value"] for p in person.get("phones") or [] if p.get("value")],
            "emails": [e["value"] for e in person.get("emails") or [] if e.get("value")],
            "visible_to": person.get("visible_to"),
            "owner": {"id": person.get("owner_id")},
            "organization": {"id": person["org_id"]} if person.get("org_id") else None,
            "custom_fields": [],
            "notes": [],
        },
    }


def search_persons(req: Request) -> Response:
    """GET /persons/search."""
    q = validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    term = str(q["term"]).strip().casefold()
    exact = bool(q.get("exact_match"))
    if len(term) < (1 if exact else 2):
        raise BadRequestError(
            "Parameter 'term' must be at least 2 characters long (1 with exact_match)"
        )
    fields = [q["fields"]] if q.get("fields") else list(SEARCH_FIELDS)
    store = req.sandbox.store
    searchable = {
        cf.key for cf in store.custom_fields["persons"] if cf.field_type in SEARCHABLE_CUSTOM_TYPES
    }
    org = q.get("organization_id")
    found = []
    with store.lock:
        for person in store.dataset("persons", include_deleted=False):
            if org is not None and person.get("org_id") != org:
                continue
            values = [v.casefold() for f in fields for v in _values(person, f, searchable)]
            if any(v == term if exact else term in v for v in values):
                found.append(_item(person))
    limit = limit_of(q)
    start = decode(q["cursor"], sort_by="id", direction="asc").id if "cursor" in q else 0
    more = start + limit < len(found)
    next_cursor = encode(Cursor("id", start + limit, "asc", start + limit)) if more else None
    return Response(
        200,
        {
            "success": True,
            "data": {"items": found[start : start + limit]},
            "additional_data": {"next_cursor": next_cursor},
        },
    )
