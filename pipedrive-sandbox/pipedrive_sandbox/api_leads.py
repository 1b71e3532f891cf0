"""Leads: v1 ``GET /leads``, ``/leads/archived``, ``/leads/{id}``, ``POST /leads``, ``PATCH`` and
``DELETE /leads/{id}``, and v2 ``POST /leads/{id}/convert/deal`` with its status.

The lists page by offset (``start``, ``limit``; ``additional_data`` holds ``start``, ``limit``
and ``more_items_in_collection`` itself, not under ``pagination`` as notes do) and are
"sorted by the time they were created, from oldest to newest" unless ``sort`` says otherwise.
Only ``GET /leads`` takes ``updated_since``; ``/leads/archived`` has no time filter, so a
client reads it newest first (``sort=update_time DESC``) and stops at what it already has.
``sort`` items are ``field ASC|DESC`` with a field from the spec's list.

A conversion completes at once: the deal is created (title, value, links, owner, custom
fields and ``source_lead_id`` from the lead), the lead is deleted, and the status endpoint
answers ``completed`` with the deal's id.
"""

from __future__ import annotations

from typing import Any

from pipedrive_sandbox.api_writes import check_types, json_body
from pipedrive_sandbox.errors import BadRequestError, NotFoundError
from pipedrive_sandbox.leads import LeadBook
from pipedrive_sandbox.params import limit_of, operation_params, validate
from pipedrive_sandbox.prng import uuid_key
from pipedrive_sandbox.routing import Request, Response
from pipedrive_sandbox.spec_tables import REQUEST_BODIES
from pipedrive_sandbox.timefmt import parse_rfc3339

_FILTERS = {"owner_id": "owner_id", "person_id": "person_id", "organization_id": "organization_id"}
_VISIBILITY = ("1", "3", "5", "7")
# Custom field types a lead write may set (the value is stored as given).
_WRITABLE_CUSTOM_TYPES = ("varchar", "varchar_auto", "text", "double", "enum", "phone", "date")
_NOT_FOUND = "Entity was not found"


def _sort_key(field: str):  # noqa: ANN202 - a key function for sorted()
    def key(lead: dict[str, Any]) -> tuple[bool, Any]:
        value = lead[field]
        return (value is None, value if value is not None else 0)

    return key


def _sorted(leads: list[dict[str, Any]], sort: str | None, template: str) -> list[dict[str, Any]]:
    fields = operation_params("v1", template)["sort"]["enum"]
    order = []
    for item in (sort or "add_time ASC").split(","):
        name, _, direction = item.strip().partition(" ")
        direction = direction.strip().upper() or "ASC"
        if name not in fields or direction not in ("ASC", "DESC"):
            raise BadRequestError(
                f"Parameter 'sort' has an unsupported item '{item.strip()}'. "
                f"Use 'field ASC' or 'field DESC' with one of: {', '.join(fields)}"
            )
        order.append((name, direction == "DESC"))
    out = list(leads)  # creation order is the final tie-breaker
    for name, descending in reversed(order):
        out.sort(key=_sort_key(name), reverse=descending)
    return out


def _list(req: Request, *, archived: bool) -> Response:
    sandbox = req.sandbox
    query = {name: values for name, values in req.query.items() if name != "sort"}
    q = validate("v1", req.template, query, unknown_params=sandbox.config.unknown_params)
    sort = req.query.get("sort", [None])[-1]
    limit = limit_of(q)
    start = q.get("start", 0)
    if start < 0:
        raise BadRequestError(f"Parameter 'start' must not be negative (got {start})")
    if "filter_id" in q:
        raise NotFoundError(f"Filter with id {q['filter_id']} was not found")
    book: LeadBook = sandbox.leads
    with sandbox.store.lock:
        leads = [lead for lead in book.leads.values() if lead["is_archived"] == archived]
        for name, field in _FILTERS.items():
            if name in q:
                leads = [lead for lead in leads if lead[field] == q[name]]
        if "updated_since" in q:
            leads = [
                lead for lead in leads if parse_rfc3339(lead["update_time"]) >= q["updated_since"]
            ]
        ordered = _sorted(leads, sort, req.template)
        data = [book.render(lead) for lead in ordered[start : start + limit]]
    more = start + limit < len(ordered)
    additional = {"start": start, "limit": limit, "more_items_in_collection": more}
    return Response(200, {"success": True, "data": data, "additional_data": additional})


def list_leads(req: Request) -> Response:
    """GET /v1/leads: leads not archived."""
    return _list(req, archived=False)


def list_archived_leads(req: Request) -> Response:
    """GET /v1/leads/archived: archived leads only."""
    return _list(req, archived=True)


def _live(req: Request) -> dict[str, Any]:
    lead = req.sandbox.leads.get(req.params["id"])
    if lead is None:
        raise NotFoundError(_NOT_FOUND)
    return lead


def get_lead(req: Request) -> Response:
    """GET /v1/leads/{id}: archived leads too; deleted or converted ones are 404s."""
    validate("v1", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    with req.sandbox.store.lock:
        data = req.sandbox.leads.render(_live(req))
    return Response(200, {"success": True, "data": data})


def _fields(req: Request) -> dict[str, Any]:
    """The body as stored lead fields: spec fields checked, deal custom fields by key."""
    store = req.sandbox.store
    body = json_body(req)
    defs = {cf.key: cf for cf in store.custom_fields["deals"]}
    custom = {key: body.pop(key) for key in list(body) if key in defs}
    check_types(body, REQUEST_BODIES[(req.version, req.method, req.template)])
    for key, value in custom.items():
        cf = defs[key]
        if cf.field_type not in _WRITABLE_CUSTOM_TYPES:
            raise BadRequestError(
                f"Custom field '{key}' ({cf.name}) is a {cf.field_type} field; the sandbox writes "
                f"only {', '.join(_WRITABLE_CUSTOM_TYPES)} fields on leads"
            )
        if cf.field_type == "enum" and value not in {None, *(oid for oid, _ in cf.options)}:
            raise BadRequestError(f"Custom field '{key}' ({cf.name}) has no option id {value}")
    if "visible_to" in body and body["visible_to"] not in _VISIBILITY:
        raise BadRequestError(f"Field 'visible_to' must be one of: {', '.join(_VISIBILITY)}")
    value = body.get("value")
    if value is not None and (
        set(value) != {"amount", "currency"}
        or not isinstance(value["amount"], int | float)
        or isinstance(value["amount"], bool)
        or not isinstance(value["currency"], str)
    ):
        raise BadRequestError('Field \'value\' must be {"amount": number, "currency": string}')
    for name, kind in (("person_id", "persons"), ("organization_id", "organizations")):
        target = body.get(name)
        if target is not None and store.get(kind, target) is None:
            raise BadRequestError(f"Field '{name}': {kind[:-1]} {target} does not exist")
    owner = body.get("owner_id")
    if owner is not None and store.catalog.user(owner) is None:
        raise BadRequestError(f"User {owner} does not exist")
    if custom:
        body["custom_fields"] = custom
    return body


def _linked(lead: dict[str, Any]) -> None:
    if lead["person_id"] is None and lead["organization_id"] is None:
        raise BadRequestError(
            "A lead must be linked to a person or an organization: give person_id or "
            "organization_id"
        )


def create_lead(req: Request) -> Response:
    """POST /v1/leads (201)."""
    with req.sandbox.store.lock:
        fields = _fields(req)
        _linked({"person_id": None, "organization_id": None} | fields)
        lead = req.sandbox.leads.create(fields)
        data = req.sandbox.leads.render(lead)
    return Response(201, {"success": True, "data": data})


def update_lead(req: Request) -> Response:
    """PATCH /v1/leads/{id}: only the given properties; ``null`` unsets."""
    with req.sandbox.store.lock:
        current = _live(req)
        fields = _fields(req)
        _linked(current | {k: v for k, v in fields.items() if k in _FILTERS})
        lead = req.sandbox.leads.update(current["id"], fields)
        data = req.sandbox.leads.render(lead)
    return Response(200, {"success": True, "data": data})


def delete_lead(req: Request) -> Response:
    """DELETE /v1/leads/{id}: ``{"id": ...}``; the lead is gone."""
    with req.sandbox.store.lock:
        lead_id = _live(req)["id"]
        req.sandbox.leads.delete(lead_id)
    return Response(200, {"success": True, "data": {"id": lead_id}})


def convert_lead(req: Request) -> Response:
    """POST /v2/leads/{id}/convert/deal: the deal is created and the lead deleted at once."""
    sandbox = req.sandbox
    store = sandbox.store
    with store.lock:
        lead = _live(req)
        body = json_body(req)
        check_types(body, REQUEST_BODIES[(req.version, req.method, req.template)])
        deal = {
            "title": lead["title"],
            "owner_id": lead["owner_id"],
            "person_id": lead["person_id"],
            "org_id": lead["organization_id"],
            "expected_close_date": lead["expected_close_date"],
            "source_lead_id": lead["id"],
            "custom_fields": dict(lead["custom_fields"]),
        }
        if lead["value"] is not None:
            deal |= {"value": float(lead["value"]["amount"]), "currency": lead["value"]["currency"]}
        if "stage_id" in body:
            if not any(s["id"] == body["stage_id"] for s in store.catalog.stages):
                raise BadRequestError(f"Field 'stage_id': stage {body['stage_id']} does not exist")
            deal["stage_id"] = body["stage_id"]
        elif "pipeline_id" in body:
            if not any(p["id"] == body["pipeline_id"] for p in store.catalog.pipelines):
                raise BadRequestError(
                    f"Field 'pipeline_id': pipeline {body['pipeline_id']} does not exist"
                )
            deal["pipeline_id"] = body["pipeline_id"]
        created = store.create("deals", deal)
        sandbox.leads.delete(lead["id"])
        conversion_id = uuid_key(store.seed, "conversion", lead["id"])
        sandbox.leads.conversions[conversion_id] = (lead["id"], created["id"])
    return Response(
        200, {"success": True, "data": {"conversion_id": conversion_id}, "additional_data": None}
    )


def conversion_status(req: Request) -> Response:
    """GET /v2/leads/{id}/convert/status/{conversion_id}."""
    validate("v2", req.template, req.query, unknown_params=req.sandbox.config.unknown_params)
    found = req.sandbox.leads.conversions.get(req.params["conversion_id"])
    if found is None or found[0] != req.params["id"]:
        raise NotFoundError(_NOT_FOUND)
    data = {
        "deal_id": found[1],
        "conversion_id": req.params["conversion_id"],
        "status": "completed",
    }
    return Response(200, {"success": True, "data": data, "additional_data": None})
