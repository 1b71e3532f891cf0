"""Parsing Pipedrive response bodies once, with orjson, and keeping the result on the response.

The body is parsed while the response is validated (inside the retry loop), so a truncated or
invalid JSON body, or a 200 with a ``null`` body, is retried like a 5xx instead of failing the
sync. The records, the paginator and the error messages then read the parsed payload from the
response instead of parsing it again.

A page whose JSON is whole but holds one record orjson cannot read (a string that is not UTF-8,
a lone surrogate escape such as ``\\ud800``, nesting deeper than 1024 levels, ``NaN``) would
otherwise be retried and fail the run, losing the page's good records with it. So when orjson
refuses a body, :func:`parse_payload` splits its ``data`` array into records at the byte level
(strings skipped whole, no recursion) and parses each on its own: the readable ones are kept, the
others are set aside with their ``id`` and orjson's reason (:func:`unreadable_records`), for the
stream to skip with a warning. A body that is not whole (truncated) still parses to None and is
retried.

orjson reads an integer beyond 64 bits (``2**100``, below ``-2**63``) as a float without a word:
the record would arrive with a value that is not the one Pipedrive holds. Such a record is
unreadable too: a body holding a run of 19 digits (a cheap search) is scanned for integer
literals outside strings, and if one is out of range the page is read record by record, the
records holding one set aside like the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import requests

_ATTRIBUTE = "_pipedrive_payload"
_UNREADABLE = "_pipedrive_unreadable"


# A JSON string (whatever bytes it holds, escapes included) or one structural character.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"|[\[\]{},]', re.DOTALL)
_DATA_KEY = re.compile(rb'\s*"data"\s*:\s*\[')
_ID = re.compile(rb'\s*"id"\s*:\s*(-?\d+)')
# orjson keeps integers in [-2**63, 2**64 - 1] (19 or 20 digits at most) and makes floats of others.
_LONG_DIGIT_RUN = re.compile(rb"\d{19}")
_STRING_OR_NUMBER = re.compile(rb'"(?:[^"\\]|\\.)*+"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')
_INTEGER_RANGE = range(-(2**63), 2**64)


@dataclass(frozen=True)
class UnreadableRecord:
    """A record of a page that could not be parsed: its ``id`` (if it could be read) and why."""

    record_id: int | None
    reason: str


def parse_payload(response: requests.Response) -> dict[str, Any] | None:
    """Parse and remember the JSON body; None if it is not a JSON object.

    If only some records of ``data`` are unreadable, the payload holds the others and the
    unreadable ones are remembered for :func:`unreadable_records`.
    """
    unreadable: list[UnreadableRecord] = []
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        payload = _parse_record_by_record(response.content, unreadable)
    else:
        if _wide_integer(response.content) is not None:
            payload = _parse_record_by_record(response.content, unreadable) or payload
    if not isinstance(payload, dict):
        payload = None
    setattr(response, _ATTRIBUTE, payload)
    setattr(response, _UNREADABLE, unreadable)
    return payload


def unreadable_records(response: requests.Response) -> list[UnreadableRecord]:
    """The records :func:`parse_payload` had to leave out of this response's ``data``."""
    return getattr(response, _UNREADABLE, [])


def _parse_record_by_record(body: bytes, unreadable: list[UnreadableRecord]) -> Any:
    """The body with each ``data`` record parsed on its own; None unless the rest is whole."""
    members, _ = _children(body, body.find(b"{"))
    found = (_DATA_KEY.match(body, start) for start, _ in members)
    data = next((match for match in found if match is not None), None)
    if data is None:
        return None
    opening = data.end() - 1
    records, closing = _children(body, opening)
    if closing < 0:
        return None
    try:
        payload = orjson.loads(body[:opening] + b"[]" + body[closing + 1 :])
    except orjson.JSONDecodeError:
        return None
    for start, end in records:
        try:
            record = orjson.loads(body[start:end])
        except orjson.JSONDecodeError as exc:
            reason = _reason(exc)
        else:
            wide = _wide_integer(body[start:end])
            if wide is None:
                payload["data"].append(record)
                continue
            reason = f"the integer {wide} does not fit in 64 bits (it would arrive as a float)"
        unreadable.append(UnreadableRecord(_top_level_id(body[start:end]), reason))
    return payload


def _wide_integer(body: bytes) -> int | None:
    """The first integer literal of ``body`` (outside strings) that orjson would read as a
    float, if any."""
    if _LONG_DIGIT_RUN.search(body) is None:
        return None
    for token in _STRING_OR_NUMBER.finditer(body):
        literal = token.group()
        if literal[:1] != b'"' and not any(c in literal for c in b".eE"):
            value = int(literal)
            if value not in _INTEGER_RANGE:
                return value
    return None


def _children(body: bytes, opening: int) -> tuple[list[tuple[int, int]], int]:
    """Byte spans of the members of the array or object opening at ``opening`` (an object's
    member is ``"key": value``), and where it closes (-1: it does not). Strings are skipped
    whole."""
    spans: list[tuple[int, int]] = []
    if opening < 0:
        return spans, -1
    depth, start = 0, opening + 1
    for token in _TOKEN.finditer(body, opening):
        kind = body[token.start()]
        if kind in b"[{":
            depth += 1
        elif kind in b"]}":
            depth -= 1
            if depth == 0:
                if body[start : token.start()].strip():
                    spans.append((start, token.start()))
                return spans, token.start()
        elif kind == ord(",") and depth == 1:
            spans.append((start, token.start()))
            start = token.end()
    return spans, -1


def _top_level_id(record: bytes) -> int | None:
    """The record's own ``id`` (not a nested object's), if it can be found."""
    members, _ = _children(record, record.find(b"{"))
    found = (_ID.match(record, start) for start, _ in members)
    match = next((m for m in found if m is not None), None)
    return int(match.group(1)) if match else None


def _reason(exc: orjson.JSONDecodeError) -> str:
    """orjson's reason in the user's terms (its own words otherwise)."""
    text = str(exc)
    if "UTF-8" in text:
        return "a string is not valid UTF-8"
    if "surrogate" in text:
        return "a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)"
    if "depth" in text or "recursion" in text:
        return "it is nested deeper than 1024 levels"
    return f"it is not valid JSON ({exc.msg})"


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
