"""Writes: v2 POST/PATCH/DELETE for persons, organizations, deals and activities; v1 notes.

Bodies are checked against the spec's request schemas (``REQUEST_BODIES``): unknown fields,
wrong JSON types, unknown enum values, unknown custom-field keys or option ids, and references
to records that do not exist are 400s naming the field. A change bumps ``update_time`` and is
written to the changelog, exactly as changes made through the control API.
"""

from __future__ import annotations

from typing import Any

import orjson

from pipedrive_sandbox import merges, timefmt, v1_shapes
from pipedrive_sandbox.api_v1 import render_note
from pipedrive_sandbox.api_v2 import parse_id, render
from pipedrive_sandbox.catalog import ACTIVITY_TYPE_KEYS
from pipedrive_sandbox.custom_fields import CustomField
from pipedrive_sandbox.errors import BadRequestError, NotFoundError
from pipedrive_sandbox.routing import Request, Response
from pipedrive_sandbox.spec_tables import REQUEST_BODIES
from pipedrive_sandbox.store import Store

_KINDS = {
    "/persons": "persons",
    "/organizations": "organizations",
    "/deals": "deals",
    "/activities": "activities",
}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_REFERENCES = {"org_id": "organizations", "person_id": "persons", "deal_id": "deals"}
_NUMBER_BOOLEANS = {0: False, 1: True}  # also matches false/true (bool is an int)
_DEAL_STATUSES = ("open", "won", "lost")
_TIME_FIELDS = {"add_time", "archive_time", "close_time", "won_time", "lost_time"}
_DATE_FIELDS = {"expected_close_date", "due_date", "birthday"}


def json_body(req: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(req.body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object")
    return body


def check_types(body: dict[str, Any], table: dict[str, Any]) -> None:
    fields = table["fields"]
    for name, value in body.items():
        spec = fields.get(name)
        if spec is None:
            raise BadRequestError(f"Unknown field '{name}'. Allowed fields: {', '.join(fields)}")
        if value is None:
            continue
        expected = _JSON_TYPES.get(spec["type"])
        wrong_bool = isinstance(value, bool) and spec["type"] in ("integer", "number")
        if expected is not None and (not isinstance(value, expected) or wrong_bool):
            raise BadRequestError(f"Field '{name}' must be of type {spec['type']}")
        if "enum" in spec and value not in spec["enum"]:
            raise BadRequestError(f"Field '{name}' must be one of: {', '.join(spec['enum'])}")
        if name in _TIME_FIELDS:
            _parse(name, value, timefmt.parse_v1 if " " in value else timefmt.parse_rfc3339)
        if name in _DATE_FIELDS:
            _parse(name, value, timefmt.parse_date)
    for name in table["required"]:
        if body.get(name) in (None, ""):
            raise BadRequestError(f"Field '{name}' is required")


def _parse(name: str, value: str, parser: Any) -> None:
    try:
        parser(value)
    except ValueError as exc:
        raise BadRequestError(f"Field '{name}' has an invalid date/time '{value}'") from exc


def _check_references(store: Store, body: dict[str, Any]) -> None:
    for name, kind in _REFERENCES.items():
        target = body.get(name)
        if target is not None and store.get(kind, target) is None:
            raise BadRequestError(f"Field '{name}': {kind[:-1]} {target} does not exist")
    owner = body.get("owner_id") or body.get("user_id")
    if owner is not None and store.catalog.user(owner) is None:
        raise BadRequestError(f"User {owner} does not exist")


def _check_custom(defs: list[CustomField], values: dict[str, Any]) -> None:
    by_key = {cf.key: cf for cf in defs}
    for key, value in values.items():
        cf = by_key.get(key)
        if cf is None:
            raise BadRequestError(f"Unknown custom field key '{key}'")
        if value is None:
            continue
        options = {oid for oid, _ in cf.options}
        if cf.field_type == "set" and (
            not isinstance(value, list) or not value or not set(value) <= options
        ):
            raise BadRequestError(
                f"Custom field '{key}' ({cf.name}) takes a non-empty list of option ids "
                f"(use null to clear it)"
            )
        if cf.field_type == "enum" and value not in options:
            raise BadRequestError(f"Custom field '{key}' ({cf.name}) has no option id {value}")


def _normalise(kind: str, store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """Body fields to stored fields (times to RFC 3339, emails/phones defaults)."""
    fields = dict(body)
    for name in _TIME_FIELDS & set(fields):
        value = fields[name]
        if value is not None and " " in value:
            fields[name] = timefmt.v2(timefmt.parse_v1(value))
    if "custom_fields" in fields:
        _check_custom(store.custom_fields[kind], fields["custom_fields"])
    for name in ("emails", "phones"):
        if name in fields:
            fields[name] = _contacts(name, fields[name] or [])
    if kind == "deals":
        _check_deal(store, fields)
    if kind == "activities" and "type" in fields and fields["type"] not in ACTIVITY_TYPE_KEYS:
        raise BadRequestError(f"Field 'type': unknown activity type '{fields['type']}'")
    return fields


def _contacts(name: str, items: list[Any]) -> list[dict[str, Any]]:
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise BadRequestError(f"Field '{name}' must be a list of {{value, primary, label}}")
        out.append(
            {
                "value": item["value"],
                "primary": bool(item.get("primary", index == 0)),
                "label": item.get("label") or "work",
            }
        )
    return out


def _check_deal(store: Store, fields: dict[str, Any]) -> None:
    if "status" in fields and fields["status"] not in _DEAL_STATUSES:
        raise BadRequestError(f"Field 'status' must be one of: {', '.join(_DEAL_STATUSES)}")
    if "stage_id" in fields and not any(
        s["id"] == fields["stage_id"] for s in store.catalog.stages
    ):
        raise BadRequestError(f"Field 'stage_id': stage {fields['stage_id']} does not exist")
    pipelines = {p["id"] for p in store.catalog.pipelines}
    if "pipeline_id" in fields and fields["pipeline_id"] not in pipelines:
        raise BadRequestError(
            f"Field 'pipeline_id': pipeline {fields['pipeline_id']} does not exist"
        )


def _validated(req: Request, kind: str) -> dict[str, Any]:
    body = json_body(req)
    table = REQUEST_BODIES[(req.version, req.method, req.template)]
    check_types(body, table)
    store = req.sandbox.store
    if kind == "persons" and "marketing_status" in body and not store.marketing_app:
        # Spec v2 POST/PATCH /persons: accepted only "if the company uses the Campaigns product".
        raise BadRequestError(
            "Field 'marketing_status' can only be set if the company has marketing app enabled"
        )
    _check_references(store, body)
    return _normalise(kind, store, body)


def create_entity(req: Request) -> Response:
    """POST /persons, /organizations, /deals, /activities."""
    kind = _KINDS[req.template]
    fields = _validated(req, kind)
    if kind == "persons" and not fields.get("name"):
        raise BadRequestError("Field 'name' is required")
    if kind == "activities" and not fields.get("subject"):
        fields["subject"] = (fields.get("type") or "task").capitalize()
    store = req.sandbox.store
    record = store.create(kind, fields)
    return Response(200, {"success": True, "data": render(store, kind, record, {})})


def _live(store: Store, kind: str, record_id: int) -> dict[str, Any]:
    record = store.get(kind, record_id)
    if record is None or record.get("is_deleted") or record.get("active_flag") is False:
        raise NotFoundError()
    return record


def update_entity(req: Request) -> Response:
    """PATCH /persons/{id}, /organizations/{id}, /deals/{id}, /activities/{id}."""
    kind = _KINDS[req.template.removesuffix("/{id}")]
    store = req.sandbox.store
    record_id = parse_id(req.params["id"])
    fields = _validated(req, kind)
    current = _live(store, kind, record_id)
    if kind == "deals" and current["is_archived"] and set(fields) - {"is_archived"}:
        raise BadRequestError("Archived deals cannot be edited; unarchive the deal first")
    if fields.pop("is_deleted", False):
        store.delete(kind, record_id)
    if kind == "activities" and fields.get("done") and not current["done"]:
        fields["marked_as_done_time"] = timefmt.v2(req.sandbox.clock.now())
    elif kind == "activities" and fields.get("done") is False:
        fields["marked_as_done_time"] = None
    updated = store.update(kind, record_id, fields) if fields else store.get(kind, record_id)
    return Response(200, {"success": True, "data": render(store, kind, updated, {})})


def delete_entity(req: Request) -> Response:
    """DELETE /persons/{id} etc.: soft delete, ``{"success": true, "data": {"id": id}}``."""
    kind = _KINDS[req.template.removesuffix("/{id}")]
    record_id = parse_id(req.params["id"])
    store = req.sandbox.store
    _live(store, kind, record_id)
    store.delete(kind, record_id)
    return Response(200, {"success": True, "data": {"id": record_id}})


def merge_entity(req: Request) -> Response:
    """PUT /v1/persons/{id}/merge, /v1/organizations/{id}/merge: ``{id}`` merges into
    ``merge_with_id``, which survives; answers the survivor as a v1 person, or an organization's
    ``{"id"}`` only (``MergeOrganizationsResponse``)."""
    kind = _KINDS[req.template.removesuffix("/{id}/merge")]
    store = req.sandbox.store
    merged_id = parse_id(req.params["id"])
    body = json_body(req)
    unknown = set(body) - {"merge_with_id"}
    if unknown:
        raise BadRequestError(
            f"Unknown field '{sorted(unknown)[0]}'. Allowed fields: merge_with_id"
        )
    survivor_id = body.get("merge_with_id")
    if not isinstance(survivor_id, int) or isinstance(survivor_id, bool):
        raise BadRequestError("Field 'merge_with_id' is required and must be of type integer")
    if survivor_id == merged_id:
        raise BadRequestError("Field 'merge_with_id' must name another record than the path id")
    _live(store, kind, merged_id)
    _live(store, kind, survivor_id)
    survivor = merges.merge(store, kind, merged_id, survivor_id, source="api")
    data = v1_shapes.person(store, survivor) if kind == "persons" else {"id": survivor_id}
    return Response(200, {"success": True, "data": data})


def _note_fields(req: Request) -> dict[str, Any]:
    body = json_body(req)
    table = REQUEST_BODIES[(req.version, req.method, req.template)]
    for name, value in list(body.items()):
        if name.startswith("pinned_to_"):
            if value not in _NUMBER_BOOLEANS:
                raise BadRequestError(f"Field '{name}' must be 0 or 1")
            body[name] = _NUMBER_BOOLEANS[value]
    check_types({k: v for k, v in body.items() if not k.startswith("pinned_to_")}, table)
    unknown = set(body) - set(table["fields"])
    if unknown:
        raise BadRequestError(f"Unknown field '{sorted(unknown)[0]}'")
    store = req.sandbox.store
    _check_references(store, body)
    for name in ("lead_id", "project_id", "task_id"):
        if body.get(name) is not None:
            raise BadRequestError(f"Field '{name}': the sandbox account has no {name[:-3]}s")
    if "add_time" in body and body["add_time"] is not None:
        body["add_time"] = timefmt.v1(timefmt.parse_v1(body["add_time"]))
    return body


def create_note(req: Request) -> Response:
    """POST /v1/notes: content plus at least one of deal_id, person_id, org_id."""
    fields = _note_fields(req)
    if not any(fields.get(name) for name in ("deal_id", "person_id", "org_id")):
        raise BadRequestError(
            "One of deal_id, person_id, org_id, lead_id or project_id is required"
        )
    store = req.sandbox.store
    if "user_id" in fields:
        fields["last_update_user_id"] = fields["user_id"]
    note = store.create("notes", fields)
    return Response(200, {"success": True, "data": render_note(store, note)})


def update_note(req: Request) -> Response:
    """PUT /v1/notes/{id}."""
    store = req.sandbox.store
    note_id = parse_id(req.params["id"])
    fields = _note_fields(req)
    _live(store, "notes", note_id)
    note = store.update("notes", note_id, fields)
    return Response(200, {"success": True, "data": render_note(store, note)})


def delete_note(req: Request) -> Response:
    """DELETE /v1/notes/{id}: the note becomes inactive and leaves GET /notes."""
    store = req.sandbox.store
    note_id = parse_id(req.params["id"])
    _live(store, "notes", note_id)
    store.delete("notes", note_id)
    return Response(200, {"success": True, "data": True})
