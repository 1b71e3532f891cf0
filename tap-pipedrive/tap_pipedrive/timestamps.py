"""Timestamps in and out of Pipedrive.

Pipedrive writes times three ways: API v2 uses RFC 3339 (``2024-01-01T10:00:00Z``, sometimes
with milliseconds or an offset), API v1 uses ``YYYY-MM-DD HH:MM:SS`` in UTC without a zone, and
old v1 rows can hold impossible dates such as ``0000-00-00 00:00:00``. Everything leaves the tap
as one canonical form, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds), so that:

* targets see one format whatever the endpoint;
* bookmarks compare correctly as strings (a mix of ``...:00Z`` and ``...:00.5Z`` would not sort
  chronologically as text);
* a bookmark can be sent back as ``updated_since``, which Pipedrive rejects with fractional
  seconds.

Fractions of a second are truncated, never rounded up: a truncated bookmark is never later than
the record it came from, so the inclusive ``updated_since`` filter cannot skip it.
"""

from __future__ import annotations

import datetime as dt
import re

UTC = dt.UTC

# The forms Pipedrive normally sends, with a calendar valid in every month (day <= 28):
# "YYYY-MM-DDTHH:MM:SSZ" (v2) and "YYYY-MM-DD HH:MM:SS" (v1). Anything else takes the slow path.
_COMMON = re.compile(
    r"(?!0000)\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])[T ]"
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(Z?)"
)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def to_rfc3339(value: object) -> str | None:
    """Return ``value`` as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None if it is not a real time.

    Accepts v2 RFC 3339 strings (with or without fractions and offsets), v1
    ``YYYY-MM-DD HH:MM:SS`` strings (UTC), and ``datetime`` objects. Empty strings, zero dates
    (``0000-00-00 00:00:00``), impossible dates (``2024-02-30``) and anything unparseable become
    None: a bad timestamp in one record must not stop a sync.
    """
    if type(value) is str:
        match = _COMMON.fullmatch(value)
        if match is not None:
            return value if match[1] and value[10] == "T" else f"{value[:10]}T{value[11:19]}Z"
        return _slow_parse(value)
    if isinstance(value, dt.datetime):
        return format_utc(value)
    return None


def _slow_parse(value: str) -> str | None:
    if len(value) < 19 or value.startswith("0000"):  # noqa: PLR2004 - "YYYY-MM-DD HH:MM:SS"
        return None
    text = value.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return format_utc(parsed)


def format_utc(moment: dt.datetime) -> str:
    """Format a datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_start_date(value: str) -> dt.datetime:
    """Parse the ``start_date`` setting: a date or an RFC 3339 date-time (naive = UTC).

    Raises:
        ValueError: with a message naming the setting when the value is not a real date.
    """
    text = value.strip()
    try:
        if _DATE_ONLY.fullmatch(text):
            return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        msg = (
            f"start_date {value!r} is not a date (YYYY-MM-DD) or an RFC 3339 date-time "
            "(YYYY-MM-DDTHH:MM:SSZ)"
        )
        raise ValueError(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_api_param(value: dt.datetime | str) -> str:
    """Format a bookmark for ``updated_since``: RFC 3339, UTC, no fractional seconds."""
    if isinstance(value, str):
        canonical = to_rfc3339(value)
        if canonical is None:
            msg = f"Not a timestamp: {value!r}"
            raise ValueError(msg)
        return canonical
    return format_utc(value)
