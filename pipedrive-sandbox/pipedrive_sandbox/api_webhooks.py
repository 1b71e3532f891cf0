"""``GET/POST /v1/webhooks`` and ``DELETE /v1/webhooks/{id}`` (spec v1 ``getWebhooks``,
``addWebhook``, ``deleteWebhook``).

The body of ``POST`` is checked against ``addWebhookRequest``: ``subscription_url``,
``event_action``, ``event_object`` and ``name`` (at most 255 characters) are required, the enums
are the spec's, ``version`` defaults to ``2.0``. Errors use the webhook operations' own envelope
(``{"status": "error", "success": false, "errors": {"<field>": ["<message>"]}}``, spec examples);
a user's 41st webhook is a 422 (Pipedrive's limit is 40). Delivery is ``webhook_delivery``'s job.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from pipedrive_sandbox.routing import Request, Response
from pipedrive_sandbox.webhook_delivery import WEBHOOKS_PER_USER

_ACTIONS = ("create", "change", "delete", "*")
_OBJECTS = (
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
    "*",
)
_VERSIONS = ("1.0", "2.0")
_STRINGS = ("subscription_url", "event_action", "event_object", "name", "version")
_NULLABLE_STRINGS = ("http_auth_user", "http_auth_password")
_NAME_MAX = 255


def _errors(status: int, field: str, message: str) -> Response:
    return Response(status, {"status": "error", "success": False, "errors": {field: [message]}})


def list_webhooks(req: Request) -> Response:
    """GET /v1/webhooks."""
    return Response(200, {"status": "ok", "success": True, "data": req.sandbox.webhooks.listed()})


def add_webhook(req: Request) -> Response:
    """POST /v1/webhooks: 201 with the new webhook."""
    try:
        body = orjson.loads(req.body or b"{}")
    except orjson.JSONDecodeError:
        return _errors(400, "body", "Request body is not valid JSON")
    if not isinstance(body, dict):
        return _errors(400, "body", "Request body must be a JSON object")
    problem = _problem(body, req.sandbox.store.catalog.user_ids)
    if problem is not None:
        return _errors(400, *problem)
    webhooks = req.sandbox.webhooks
    user_id = body.get("user_id") or webhooks.user_id
    if webhooks.owned_by(user_id) >= WEBHOOKS_PER_USER:
        return _errors(
            422, "user_id", f"user {user_id} already has {WEBHOOKS_PER_USER} webhooks, the maximum"
        )
    return Response(201, {"status": "ok", "success": True, "data": webhooks.add(body)})


def _problem(body: dict[str, Any], user_ids: list[int]) -> tuple[str, str] | None:
    """The first field that breaks ``addWebhookRequest``, and why."""
    return _shape_problem(body) or _value_problem(body, user_ids)


def _shape_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    allowed = {*_STRINGS, *_NULLABLE_STRINGS, "user_id"}
    problems = [
        (name, f"unknown field; allowed: {', '.join(sorted(allowed))}")
        for name in body
        if name not in allowed
    ]
    problems += [
        (name, "is required")
        for name in ("subscription_url", "event_action", "event_object", "name")
        if body.get(name) in (None, "")
    ]
    problems += [
        (name, "must be a string")
        for name in _STRINGS
        if name in body and not isinstance(body[name], str)
    ]
    problems += [
        (name, "must be a string or null")
        for name in _NULLABLE_STRINGS
        if body.get(name) is not None and not isinstance(body[name], str)
    ]
    return problems[0] if problems else None


def _value_problem(body: dict[str, Any], user_ids: list[int]) -> tuple[str, str] | None:
    for name, allowed_values in (
        ("event_action", _ACTIONS),
        ("event_object", _OBJECTS),
        ("version", _VERSIONS),
    ):
        if name in body and body[name] not in allowed_values:
            return name, f"must be one of: {', '.join(allowed_values)}"
    if len(body["name"]) > _NAME_MAX:
        return "name", f"must be at most {_NAME_MAX} characters"
    url = urlsplit(body["subscription_url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        return "subscription_url", "invalid or non-reachable URL"
    user_id = body.get("user_id")
    if user_id is not None and (
        not isinstance(user_id, int) or isinstance(user_id, bool) or user_id not in user_ids
    ):
        return "user_id", f"no active user with id {user_id}"
    return None


def delete_webhook(req: Request) -> Response:
    """DELETE /v1/webhooks/{id}: 200, or 404 in the webhook error envelope."""
    raw = req.params["id"]
    if not raw.isdigit() or not req.sandbox.webhooks.remove(int(raw)):
        return _errors(404, "id", "not found")
    return Response(200, {"status": "ok", "success": True})
