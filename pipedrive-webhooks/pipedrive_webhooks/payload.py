"""What a Pipedrive webhook v2 delivery must look like to be spooled.

Pipedrive POSTs ``{"meta": {...}, "data": {...} | null, "previous": {...} | null}``. The spool
keys events by ``meta.id`` (the event id Pipedrive repeats on every retry) and keeps the rest
as received, so the checks here are only what the spool and its readers rely on: a JSON object,
a ``meta`` object with an event id, action, entity and entity id, and ``data``/``previous`` that
are objects or null with at least one object. Unknown actions and entities are kept (Pipedrive
adds objects faster than its spec): deciding what to apply is the reader's job. A version 1.0
delivery (``current``/``previous``, ``meta.v: 1``) is refused with the fix: register 2.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_EVENT_ID_LENGTH = 200  # meta.id and meta.entity_id (Pipedrive's are ids and UUIDs)
MAX_WORD_LENGTH = 64  # meta.action, meta.entity, meta.timestamp


class MalformedPayloadError(ValueError):
    """A body that is not a webhook v2 delivery; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One delivery, checked: the fields the spool indexes, and the body as received."""

    event_id: str
    action: str
    entity: str
    entity_id: str
    occurred_at: str | None
    attempt: int | None
    body: bytes


def _bounded(name: str, text: str, limit: int) -> str:
    # The spool's columns have these lengths (PostgreSQL enforces them): a longer value must be
    # refused here, alone, not fail the commit of every event batched with it.
    if len(text) > limit:
        msg = f"meta.{name} is longer than {limit} characters"
        raise MalformedPayloadError(msg)
    return text


def _text_id(meta: dict[str, Any], name: str) -> str:
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        msg = f"meta.{name} must be a string or an integer, got {type(value).__name__}"
        raise MalformedPayloadError(msg)
    text = str(value).strip()
    if not text:
        msg = f"meta.{name} is empty"
        raise MalformedPayloadError(msg)
    return _bounded(name, text, MAX_EVENT_ID_LENGTH)


def _word(meta: dict[str, Any], name: str) -> str:
    value = meta.get(name)
    if not isinstance(value, str) or not value.strip():
        msg = f"meta.{name} must be a non-empty string"
        raise MalformedPayloadError(msg)
    return _bounded(name, value.strip(), MAX_WORD_LENGTH)


def parse_delivery(body: bytes) -> WebhookEvent:
    """The event in a delivery body.

    Raises:
        MalformedPayloadError: naming the first problem found.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"body is not JSON ({exc})"
        raise MalformedPayloadError(msg) from None
    if not isinstance(payload, dict):
        msg = f"body must be a JSON object, got {type(payload).__name__}"
        raise MalformedPayloadError(msg)
    meta = payload.get("meta")
    if not isinstance(meta, dict):
        msg = "body has no meta object (not a Pipedrive webhook delivery)"
        raise MalformedPayloadError(msg)
    version = str(meta.get("version", meta.get("v", "")))
    if "current" in payload or version.startswith("1"):
        msg = (
            "a webhooks version 1.0 delivery: register the subscription with version 2.0 "
            "(pipedrive-webhooks register does)"
        )
        raise MalformedPayloadError(msg)
    event_id = _text_id(meta, "id")
    action = _word(meta, "action")
    entity = _word(meta, "entity")
    entity_id = _text_id(meta, "entity_id")
    states = {name: payload.get(name) for name in ("data", "previous")}
    for name, state in states.items():
        if state is not None and not isinstance(state, dict):
            msg = f"{name} must be an object or null, got {type(state).__name__}"
            raise MalformedPayloadError(msg)
    if all(state is None for state in states.values()):
        msg = "both data and previous are null or missing: the delivery carries no object"
        raise MalformedPayloadError(msg)
    attempt = meta.get("attempt")
    timestamp = meta.get("timestamp")
    return WebhookEvent(
        event_id=event_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        occurred_at=None
        if timestamp is None
        else _bounded("timestamp", str(timestamp), MAX_WORD_LENGTH),
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
        body=body,
    )
