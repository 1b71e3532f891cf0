"""Canonical forms of incoming data: JSON bytes, timestamps and deterministic CDP ids.

Everything the target writes is derived from these forms, so that the same input always
produces the same bytes in the CDP (replays are byte-identical).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import orjson

#: Namespace of the UUID v5 ids the target gives the rows it creates.
CDP_NAMESPACE = uuid.UUID("5f1b7c52-9a3e-4d0e-8c53-6a2f2b8f6c10")
UTC = dt.UTC
_Y2000, _Y2100 = 946_684_800, 4_102_444_800  # plausible epoch seconds of a table version
_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


_INT64 = 2**63


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value() and abs(value) < _INT64:
            return int(value)
        return float(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> bytes:
    """Canonical JSON: sorted keys, numbers as JSON numbers, NUL characters removed.

    PostgreSQL cannot store NUL in text or jsonb, so it is dropped for every database alike.
    """
    text = orjson.dumps(value, default=_default, option=_JSON_OPTIONS)
    if b"\\u0000" in text:
        text = orjson.dumps(_without_nul(value), default=_default, option=_JSON_OPTIONS)
    return text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def canonical(value: Any) -> Any:
    """The value as it reads back from the database's JSON column.

    Raises TypeError for values JSON columns cannot hold (integers beyond 64 bits).
    """
    return orjson.loads(dumps(value))


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 string (or datetime) as an aware UTC datetime.

    ValueError if malformed; OverflowError if its offset moves it outside years 1 to 9999 in
    UTC (``0001-01-01T00:00:00+05:00``).
    """
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def time_text(value: dt.datetime | None) -> str | None:
    """A UTC datetime as compact RFC 3339 (``2026-03-01T10:00:00Z``), used in keys."""
    if value is None:
        return None
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


def cdp_id(kind: str, pipedrive_id: int) -> str:
    """Deterministic CDP id (UUID v5) of a row created from a Pipedrive object."""
    return str(uuid.uuid5(CDP_NAMESPACE, f"pipedrive:{kind}:{pipedrive_id}"))


def version_time(version: int | None) -> dt.datetime | None:
    """The time a Singer table version stands for, when it is epoch milliseconds (the SDK's)."""
    if version is None:
        return None
    seconds = version / 1000
    if not _Y2000 <= seconds <= _Y2100:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=UTC)
