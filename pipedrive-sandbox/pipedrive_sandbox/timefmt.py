"""Time formats of the two API versions, and strict parsers for time-valued query parameters.

Internally every instant is an integer count of seconds since the Unix epoch (UTC). API v2
renders RFC 3339 (``2026-01-01T10:00:00Z``), API v1 ``YYYY-MM-DD HH:MM:SS`` (UTC, no offset).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$",
)
_V1_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SECONDS_PER_DAY = 86_400


_DAYS: dict[int, str] = {}  # day number -> "YYYY-MM-DD" (a few thousand entries at most)


def day(ts: int) -> str:
    """``YYYY-MM-DD`` of the UTC day containing ``ts``."""
    number = ts // SECONDS_PER_DAY
    text = _DAYS.get(number)
    if text is None:
        text = _DAYS[number] = time.strftime("%Y-%m-%d", time.gmtime(number * SECONDS_PER_DAY))
    return text


def _hms(ts: int) -> str:
    hours, rest = divmod(ts % SECONDS_PER_DAY, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def v2(ts: int) -> str:
    """RFC 3339 UTC with a ``Z`` suffix, second precision (API v2)."""
    return f"{day(ts)}T{_hms(ts)}Z"


def v1(ts: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC (API v1)."""
    return f"{day(ts)} {_hms(ts)}"


def clock(seconds_of_day: int) -> str:
    """``HH:MM:SS`` for a number of seconds since midnight."""
    return _hms(seconds_of_day)


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 date-time (``2025-01-01T10:20:00Z``, offsets allowed) to epoch seconds.

    Raises ``ValueError`` for anything else, including dates without a time or an offset.
    """
    if not _RFC3339.match(text):
        raise ValueError(text)
    parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return int(parsed.timestamp())


def parse_v1(text: str) -> int:
    """Parse ``YYYY-MM-DD HH:MM:SS`` (UTC) to epoch seconds; ``ValueError`` otherwise."""
    if not _V1_DATETIME.match(text):
        raise ValueError(text)
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


def parse_date(text: str) -> date:
    """Parse ``YYYY-MM-DD``; ``ValueError`` otherwise."""
    if not _DATE.match(text):
        raise ValueError(text)
    return date.fromisoformat(text)


def date_to_ts(value: date) -> int:
    """Midnight UTC of a calendar date, as epoch seconds."""
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


def v2_to_v1(text: str | None) -> str | None:
    """Convert an RFC 3339 value (as stored in v2 records) to the v1 format; ``None`` stays."""
    if text is None:
        return None
    return v1(parse_rfc3339(text))
