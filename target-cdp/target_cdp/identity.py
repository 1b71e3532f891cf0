"""Identifiers of a Pipedrive person: the primary email and phone, with junk filtered out."""

from __future__ import annotations

import re
from typing import Any


def primary_value(items: Any) -> str | None:
    """The ``value`` of the primary item of an ``emails``/``phones`` list (else the first).

    A plain string is the value itself (some taps flatten the list to one address).
    """
    if isinstance(items, str):
        return items
    if not isinstance(items, list) or not items:
        return None
    chosen = next((i for i in items if isinstance(i, dict) and i.get("primary")), items[0])
    value = chosen.get("value") if isinstance(chosen, dict) else chosen
    return value if isinstance(value, str) else None


def email_key(value: str | None) -> str | None:
    """A stored email as identity compares it: trimmed and lower-cased (``lower(trim(email))``).

    People from other sources may store ``Alice@Example.io`` or `` bob@x.io ``.
    """
    return None if value is None else value.strip().lower() or None


def normalize_email(value: str | None, blocked: re.Pattern[str]) -> str | None:
    """Trim and lower-case an email; None when it is empty, junk or not an email at all."""
    if value is None:
        return None
    email = value.strip().lower()
    if blocked.fullmatch(email) or "@" not in email[1:-1]:
        return None
    return email
