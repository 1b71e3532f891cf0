"""Parsing Pipedrive response bodies once, with orjson, and keeping the result on the response.

The body is parsed while the response is validated (inside the retry loop), so a truncated or
invalid JSON body, or a 200 with a ``null`` body, is retried like a 5xx instead of failing the
sync. The records, the paginator and the error messages then read the parsed payload from the
response instead of parsing it again.
"""

from __future__ import annotations

from typing import Any

import orjson
import requests

_ATTRIBUTE = "_pipedrive_payload"


def parse_payload(response: requests.Response) -> dict[str, Any] | None:
    """Parse and remember the JSON body; None if it is not a JSON object."""
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        payload = None
    setattr(response, _ATTRIBUTE, payload)
    return payload


def set_payload(response: requests.Response, payload: dict[str, Any]) -> None:
    """Give a response the payload the tap should read from it."""
    setattr(response, _ATTRIBUTE, payload)


def payload_of(response: requests.Response) -> dict[str, Any]:
    """The body parsed by :func:`parse_payload` (parsing it now if that has not happened)."""
    if not hasattr(response, _ATTRIBUTE):
        parse_payload(response)
    return getattr(response, _ATTRIBUTE) or {}


def error_text(response: requests.Response) -> str:
    """Pipedrive's own words for an error response (``error`` and ``error_info``), if any."""
    payload = payload_of(response)
    parts = [str(payload[key]) for key in ("error", "error_info", "message") if payload.get(key)]
    return ": ".join(parts) if parts else (response.reason or "no error message")
