"""The control API under ``/_sandbox/``: stats, faults, budget, records, the clock, webhooks.

No token, never rate limited, faulted or counted; web pages are refused (``control_guard``).
Documented in ``pipedrive-sandbox/README.md``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from pipedrive_sandbox import control_guard, merges, timefmt
from pipedrive_sandbox.columns import KINDS
from pipedrive_sandbox.routing import Response
from pipedrive_sandbox.templates import known_fields

if TYPE_CHECKING:
    from email.message import Message

    from pipedrive_sandbox.app import Sandbox

PREFIX = "/_sandbox/"
_RECORD = re.compile(r"^/_sandbox/records/(?P<kind>\w+)(?:/(?P<id>\d+))?$")
_MERGE = re.compile(r"^/_sandbox/records/(?P<kind>\w+)/(?P<id>\d+)/merge$")
_DELIVERY_SETTINGS = ("retry_delays", "timeout", "ban_after", "ban_seconds")


class ControlError(Exception):
    """A 4xx answer of the control API."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ControlError(400, f"request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ControlError(400, "request body must be a JSON object")
    return data


def handle(
    sandbox: Sandbox,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: Message,
    raw: bytes,
) -> Response:
    """Dispatch one control request, unless it comes from a web page or is a non-JSON write."""
    origins = control_guard.own_origins(sandbox.config.host, sandbox.config.port)
    refused = control_guard.refusal(method, headers, raw, origins)
    if refused is not None:
        status, message = refused
        return Response(status, {"ok": False, "error": message})
    try:
        return _dispatch(sandbox, method, path, query, _body(raw))
    except ControlError as exc:
        return Response(exc.status, {"ok": False, "error": str(exc)})


def _dispatch(
    sandbox: Sandbox, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
) -> Response:
    simple = {
        ("GET", "/_sandbox/health"): lambda: {"ok": True},
        ("GET", "/_sandbox/info"): lambda: info(sandbox),
        ("GET", "/_sandbox/stats"): lambda: stats(sandbox),
        ("POST", "/_sandbox/stats/reset"): lambda: reset_stats(sandbox),
        ("GET", "/_sandbox/faults"): sandbox.faults.describe,
        ("POST", "/_sandbox/faults"): lambda: set_faults(sandbox, body),
        ("DELETE", "/_sandbox/faults"): lambda: set_faults(sandbox, {}),
        ("POST", "/_sandbox/budget"): lambda: set_budget(sandbox, body),
        ("POST", "/_sandbox/burst-limit"): lambda: set_burst_limit(sandbox, body),
        ("GET", "/_sandbox/clock"): lambda: clock(sandbox),
        ("POST", "/_sandbox/clock/advance"): lambda: advance_clock(sandbox, body),
        ("GET", "/_sandbox/webhooks"): sandbox.webhooks.report,
        ("POST", "/_sandbox/webhooks/config"): lambda: configure_webhooks(sandbox, body),
    }
    action = simple.get((method, path))
    if action is not None:
        return Response(200, action())
    found = _MERGE.match(path)
    if found and method == "POST":
        return merge(sandbox, found.group("kind"), int(found.group("id")), body)
    found = _RECORD.match(path)
    if found:
        return records(sandbox, method, found.group("kind"), found.group("id"), query, body)
    raise ControlError(404, f"no control endpoint {method} {path}")


def info(sandbox: Sandbox) -> dict[str, Any]:
    """Seed, scale, anchor, record counts and custom field keys."""
    store = sandbox.store
    return {
        "seed": store.seed,
        "scale": store.scale,
        "anchor": timefmt.v2(store.anchor),
        "now": timefmt.v2(sandbox.clock.now()),
        "counts": {kind: store.size(kind) for kind in KINDS} | {"leads": len(sandbox.leads.leads)},
        "startup_seconds": round(sandbox.startup_seconds, 3),
        "marketing_app": store.marketing_app,
        "oauth_scopes": list(sandbox.config.oauth_scopes),
        "custom_fields": {
            kind: [{"key": cf.key, "name": cf.name, "field_type": cf.field_type} for cf in fields]
            for kind, fields in store.custom_fields.items()
        },
    }


def stats(sandbox: Sandbox) -> dict[str, Any]:
    """Request/token counters plus the budget left."""
    snapshot = sandbox.stats.snapshot()
    snapshot["daily_budget"] = sandbox.limiter.daily_budget
    snapshot["daily_budget_remaining"] = sandbox.limiter.remaining_budget()
    return snapshot


def reset_stats(sandbox: Sandbox) -> dict[str, Any]:
    """Zero the counters."""
    sandbox.stats.reset()
    return stats(sandbox)


def set_faults(sandbox: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the fault rules (``{}`` clears them)."""
    try:
        sandbox.faults.configure(body)
    except (TypeError, ValueError) as exc:
        raise ControlError(400, str(exc)) from exc
    return sandbox.faults.describe()


def set_budget(sandbox: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    """``{"daily_budget": N, "spent": 0}``: change the budget and today's spending."""
    budget, spent = body.get("daily_budget"), body.get("spent", 0)
    if budget is not None and (not isinstance(budget, int) or budget < 0):
        raise ControlError(400, "daily_budget must be a non-negative integer (0 = unlimited)")
    if not isinstance(spent, int) or spent < 0:
        raise ControlError(400, "spent must be a non-negative integer")
    sandbox.limiter.set_budget(budget, spent=spent)
    return {
        "daily_budget": sandbox.limiter.daily_budget,
        "remaining": sandbox.limiter.remaining_budget(),
    }


def set_burst_limit(sandbox: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    """``{"burst_limit": N}`` (0 = unlimited)."""
    limit = body.get("burst_limit")
    if not isinstance(limit, int) or limit < 0:
        raise ControlError(400, "burst_limit must be a non-negative integer (0 = unlimited)")
    sandbox.limiter.set_burst_limit(limit)
    return {"burst_limit": limit}


def clock(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox time."""
    now = sandbox.clock.now()
    return {"now": timefmt.v2(now), "epoch": now}


def advance_clock(sandbox: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    """``{"seconds": N}``: move the clock forward."""
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or seconds < 0:
        raise ControlError(400, "seconds must be a non-negative integer")
    sandbox.clock.advance(seconds)
    return clock(sandbox)


def configure_webhooks(sandbox: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    """``{"retry_delays": [0.1, 0.2, 0.3], "timeout": 1, "ban_after": 10, "ban_seconds": 5}``."""
    unknown = set(body) - set(_DELIVERY_SETTINGS)
    if unknown:
        raise ControlError(
            400,
            f"unknown webhook settings: {', '.join(sorted(unknown))}; "
            f"settings: {', '.join(_DELIVERY_SETTINGS)}",
        )
    delays = body.get("retry_delays", [])
    if not isinstance(delays, list) or not all(_seconds(d) for d in delays):
        raise ControlError(400, "retry_delays must be a list of non-negative seconds")
    for name in ("timeout", "ban_seconds"):
        if name in body and not (_seconds(body[name]) and body[name] > 0):
            raise ControlError(400, f"{name} must be a positive number of seconds")
    ban_after = body.get("ban_after", 1)
    if not isinstance(ban_after, int) or isinstance(ban_after, bool) or ban_after < 1:
        raise ControlError(400, "ban_after must be a positive integer")
    sandbox.webhooks.configure(body)
    return sandbox.webhooks.report()["config"]


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def merge(sandbox: Sandbox, kind: str, record_id: int, body: dict[str, Any]) -> Response:
    """``{"merge_with_id": n}``: merge the record into ``n`` as a user in the app would."""
    if kind not in merges.MERGEABLE:
        raise ControlError(404, f"only {' and '.join(merges.MERGEABLE)} can be merged")
    survivor_id = body.get("merge_with_id")
    if (
        not isinstance(survivor_id, int)
        or isinstance(survivor_id, bool)
        or survivor_id == record_id
    ):
        raise ControlError(400, "merge_with_id must be the id of another record of the same kind")
    store = sandbox.store
    for number in (record_id, survivor_id):
        record = store.get(kind, number)
        if record is None or record["is_deleted"]:
            raise ControlError(404, f"no live {kind} record with id {number}")
    survivor = merges.merge(store, kind, record_id, survivor_id, source="control")
    return Response(200, {"data": survivor})


def bulk_update(sandbox: Sandbox, kind: str, body: dict[str, Any]) -> Response:
    """``{"ids": [...], "fields": {...}}``: one change per record, flagged ``is_bulk_edit``."""
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise ControlError(400, "ids must be a non-empty list of record ids")
    fields = _check_fields(sandbox, kind, body.get("fields") or {})
    missing = [i for i in ids if sandbox.store.get(kind, i) is None]
    if missing:
        raise ControlError(404, f"no {kind} records with ids {missing}")
    updated = [
        sandbox.store.update(kind, i, fields, source="control", is_bulk_edit=True) for i in ids
    ]
    return Response(200, {"data": updated})


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ControlError(404, f"unknown kind '{kind}'; kinds: {', '.join(KINDS)}")


def _check_fields(sandbox: Sandbox, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    allowed = known_fields(sandbox.store, kind) - {"id", "add_time"}
    unknown = set(fields) - allowed
    if unknown:
        raise ControlError(400, f"unknown {kind} fields: {', '.join(sorted(unknown))}")
    custom = fields.get("custom_fields")
    if custom is not None:
        keys = {cf.key for cf in sandbox.store.custom_fields[kind]}
        bad = set(custom) - keys
        if bad:
            raise ControlError(400, f"unknown custom field keys: {', '.join(sorted(bad))}")
    return fields


def records(
    sandbox: Sandbox,
    method: str,
    kind: str,
    record_id: str | None,
    query: dict[str, list[str]],
    body: dict[str, Any],
) -> Response:
    """Create, update, delete and list records of a kind (leads: list only)."""
    if kind == "leads":
        if record_id is not None or method != "GET":
            raise ControlError(405, "leads are listed here; change them through /v1/leads")
        with sandbox.store.lock:
            return Response(200, {"data": sandbox.leads.dataset()})
    _check_kind(kind)
    store = sandbox.store
    if record_id is None and method == "GET":
        include_deleted = (query.get("include_deleted") or ["true"])[0] != "false"
        return Response(200, {"data": store.dataset(kind, include_deleted=include_deleted)})
    if record_id is None and method == "POST":
        fields = _check_fields(sandbox, kind, body.get("fields", body))
        return Response(201, {"data": store.create(kind, fields, source="control")})
    if record_id is None and method == "PATCH":
        return bulk_update(sandbox, kind, body)
    if record_id is None:
        raise ControlError(405, f"{method} is not supported on /_sandbox/records/{kind}")
    number = int(record_id)
    if method == "GET":
        record = store.get(kind, number)
    elif method == "PATCH":
        fields = _check_fields(sandbox, kind, body.get("fields", body))
        record = store.update(kind, number, fields, source="control")
    elif method == "DELETE":
        record = store.delete(kind, number, source="control")
    else:
        raise ControlError(405, f"{method} is not supported on a record")
    if record is None:
        raise ControlError(404, f"no {kind} record with id {number}")
    return Response(200, {"data": record})
