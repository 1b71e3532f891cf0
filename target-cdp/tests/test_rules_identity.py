"""The identity rules README.md states ("How records are merged": Identity), one row each.

Pure functions only (``identity.py``, the ``blocked_identifiers`` setting): no database. Which
stored person a record matches (linked first, then the earliest unlinked with the email) needs
stored people: test_target_people covers it.
"""

from __future__ import annotations

from typing import Any

import pytest
from target_cdp.identity import email_key, normalize_email, primary_value
from target_cdp.settings import Settings


def settings(**config: Any) -> Settings:
    return Settings.from_config(config)


# Each value the README lists as blocked by default: the pattern blocks it and no email is kept.
BLOCKED = [
    pytest.param("", id="blocked: empty value"),
    pytest.param("000", id="blocked: ^[0-]*$ (zeros)"),
    pytest.param("--", id="blocked: ^[0-]*$ (dashes)"),
    pytest.param("null", id="blocked: null"),
    pytest.param("none", id="blocked: none"),
    pytest.param("undefined", id="blocked: undefined"),
    pytest.param("n/a", id="blocked: n/a"),
    pytest.param("unknown", id="blocked: unknown"),
    pytest.param("anonymous", id="blocked: anonymous"),
    pytest.param("test", id="blocked: test"),
    pytest.param("-1", id="blocked: -1"),
    pytest.param("noemail@acme.io", id="blocked: local part noemail@"),
    pytest.param("noreply@acme.io", id="blocked: local part noreply@"),
    pytest.param("test@acme.io", id="blocked: local part test@"),
    pytest.param("none@acme.io", id="blocked: local part none@"),
    pytest.param("ada@example.com", id="blocked: domain example.com"),
    pytest.param("ada@example.org", id="blocked: domain example.org"),
    pytest.param("ada@example.net", id="blocked: domain example.net"),
    pytest.param("ada@test.com", id="blocked: domain test.com"),
    pytest.param("ada@none.com", id="blocked: domain none.com"),
    pytest.param("ada@noemail.com", id="blocked: domain noemail.com"),
    pytest.param("ada@mailinator.com", id="blocked: domain mailinator.com"),
    pytest.param(" NoReply@Acme.io ", id="blocked: compared trimmed and case-insensitively"),
]


@pytest.mark.parametrize("value", BLOCKED)
def test_default_blocked_identifiers(value):
    blocked = settings().blocked_identifiers
    assert blocked.fullmatch(value.strip().lower())
    assert normalize_email(value, blocked) is None


EMAILS = [
    pytest.param({}, " Alice@Example.io ", "alice@example.io", id="email trimmed and lower-cased"),
    pytest.param({}, "ada@acme.io", "ada@acme.io", id="a real email is kept"),
    pytest.param({}, "reply@acme.io", "reply@acme.io", id="only the listed local parts block"),
    pytest.param({}, "ada@example.io", "ada@example.io", id="only the listed domains block"),
    pytest.param({}, "not an email", None, id="not an email at all: none"),
    pytest.param({}, None, None, id="no value: none"),
    pytest.param(
        {"blocked_identifiers": [r".*@acme\.io"]},
        "noreply@other.io",
        "noreply@other.io",
        id="setting blocked_identifiers replaces the defaults (noreply@ no longer blocked)",
    ),
    pytest.param(
        {"blocked_identifiers": [r".*@acme\.io"]},
        "Ada@ACME.io",
        None,
        id="setting blocked_identifiers: its patterns block (case-insensitive)",
    ),
    pytest.param(
        {"blocked_identifiers": []},
        "test@example.com",
        "test@example.com",
        id="an empty blocked_identifiers blocks nothing",
    ),
]


@pytest.mark.parametrize(("config", "value", "expected"), EMAILS)
def test_normalize_email(config, value, expected):
    assert normalize_email(value, settings(**config).blocked_identifiers) == expected


KEYS = [
    pytest.param("Alice@Example.io", "alice@example.io", id="stored side lower(trim(email))"),
    pytest.param("  bob@x.io ", "bob@x.io", id="stored side trimmed"),
    pytest.param("   ", None, id="stored blank email identifies nobody"),
    pytest.param(None, None, id="stored null email identifies nobody"),
]


@pytest.mark.parametrize(("stored", "expected"), KEYS)
def test_email_key(stored, expected):
    assert email_key(stored) == expected


PRIMARY = [
    pytest.param(
        [{"value": "a"}, {"value": "b", "primary": True}], "b", id="primary: the primary item"
    ),
    pytest.param([{"value": "a"}, {"value": "b"}], "a", id="primary: else the first"),
    pytest.param("a@acme.io", "a@acme.io", id="primary: a plain string is the value"),
    pytest.param([], None, id="primary: no item"),
    pytest.param(None, None, id="primary: no list"),
    pytest.param([{"value": 5}], None, id="primary: a value that is not text"),
]


@pytest.mark.parametrize(("items", "expected"), PRIMARY)
def test_primary_value(items, expected):
    assert primary_value(items) == expected
