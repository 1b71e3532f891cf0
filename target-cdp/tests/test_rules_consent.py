"""The permission rules README.md states ("How records are merged": Permissions, unknown_fields,
Suppression, Propagation), one row each.

Pure functions only (``consent.py``): no database, no target. How a sink picks the channels whose
Pipedrive value is new (propagation acts only then) is tested end to end in test_target_consent.
"""

from __future__ import annotations

from typing import Any

import pytest
from target_cdp.consent import (
    Decision,
    decide_deferred,
    decide_existing,
    decide_new,
    opted_out,
    says_no,
    source_values,
    suppressed,
    waits,
)
from target_cdp.settings import Settings

FIELD = {"email_permission_field": "newsletter"}
SMS_FIELD = {"sms_permission_field": "sms_ok"}


def settings(**config: Any) -> Settings:
    return Settings.from_config(config)


def record(**fields: Any) -> dict:
    """A Pipedrive person record with ``fields`` (``custom_fields`` passed as given)."""
    return {"id": 1, "emails": [{"value": "a@acme.io", "primary": True}], **fields}


def email(value: bool | None, rule: str, source: str | None) -> Decision:
    return Decision("email", value, rule, source)


def sms(value: bool | None, rule: str, source: str | None) -> Decision:
    return Decision("sms", value, rule, source)


NO_SMS = sms(False, "sms_default", None)

# --- A person the target creates: decide_new ---------------------------------------------------

NEW = [
    # marketing_status
    pytest.param(
        {},
        record(marketing_status="subscribed"),
        email(True, "marketing_status", "subscribed"),
        id="subscribed = yes",
    ),
    pytest.param(
        {},
        record(marketing_status="unsubscribed"),
        email(False, "marketing_status", "unsubscribed"),
        id="unsubscribed = no",
    ),
    pytest.param(
        {},
        record(marketing_status="no_consent"),
        email(False, "marketing_status", "no_consent"),
        id="no_consent = no (not default_email_permission)",
    ),
    pytest.param(
        {},
        record(marketing_status="archived"),
        email(False, "marketing_status", "archived"),
        id="archived = no (not default_email_permission)",
    ),
    pytest.param(
        {},
        record(marketing_status="pending"),
        email(False, "marketing_status", "pending"),
        id="any other status = no",
    ),
    pytest.param(
        {},
        record(marketing_status=" Subscribed "),
        email(True, "marketing_status", " Subscribed "),
        id="status compared trimmed and case-insensitively (Subscribed is yes, value kept as sent)",
    ),
    pytest.param(
        {},
        record(marketing_status="UNSUBSCRIBED"),
        email(False, "marketing_status", "UNSUBSCRIBED"),
        id="status compared case-insensitively (UNSUBSCRIBED is no)",
    ),
    pytest.param(
        {"default_email_permission": False},
        record(marketing_status="subscribed"),
        email(True, "marketing_status", "subscribed"),
        id="a status decides by itself: subscribed = yes whatever default_email_permission",
    ),
    # no status at all: default_email_permission
    pytest.param(
        {},
        record(),
        email(True, "default_email_permission", None),
        id="default_email_permission when marketing_status is absent",
    ),
    pytest.param(
        {},
        record(marketing_status=None),
        email(True, "default_email_permission", None),
        id="default_email_permission when marketing_status is null",
    ),
    pytest.param(
        {},
        record(marketing_status=""),
        email(True, "default_email_permission", ""),
        id="default_email_permission when marketing_status is empty",
    ),
    pytest.param(
        {},
        record(marketing_status="  "),
        email(True, "default_email_permission", "  "),
        id="default_email_permission when marketing_status is blank (trimmed)",
    ),
    pytest.param(
        {"default_email_permission": False},
        record(),
        email(False, "default_email_permission", None),
        id="default_email_permission false when no status",
    ),
    # email_permission_field
    pytest.param(
        FIELD,
        record(newsletter="yes", marketing_status="unsubscribed"),
        email(True, "email_permission_field", "yes"),
        id="email_permission_field decides instead of marketing_status: a yes value = yes",
    ),
    pytest.param(
        FIELD,
        record(newsletter="no", marketing_status="subscribed"),
        email(False, "email_permission_field", "no"),
        id="email_permission_field: any other non-empty value = no",
    ),
    pytest.param(
        FIELD,
        record(newsletter=" Opted In "),
        email(True, "email_permission_field", " Opted In "),
        id="email_permission_values compared trimmed and case-insensitively",
    ),
    pytest.param(
        FIELD,
        record(newsletter=True),
        email(True, "email_permission_field", "true"),
        id="email_permission_field: boolean true is the value 'true'",
    ),
    pytest.param(
        FIELD,
        record(custom_fields={"newsletter": "1"}),
        email(True, "email_permission_field", "1"),
        id="email_permission_field: a custom field by readable name",
    ),
    pytest.param(
        {**FIELD, "email_permission_values": ["ja"]},
        record(newsletter="yes"),
        email(False, "email_permission_field", "yes"),
        id="email_permission_values replace the defaults",
    ),
    pytest.param(
        {**FIELD, "default_email_permission": False},
        record(newsletter=""),
        email(False, "default_email_permission", ""),
        id="email_permission_field empty = default_email_permission",
    ),
    pytest.param(
        FIELD,
        record(marketing_status="unsubscribed"),
        email(True, "default_email_permission", None),
        id="email_permission_field absent = default_email_permission (status not read)",
    ),
    # A record naming the deciding field in unknown_fields is deferred.
    pytest.param(
        {},
        record(unknown_fields=["marketing_status", "doi_status"]),
        email(None, "deferred", None),
        id="record naming marketing_status in unknown_fields: deferred (null)",
    ),
    pytest.param(
        {"default_email_permission": False},
        record(unknown_fields=["marketing_status"]),
        email(None, "deferred", None),
        id="deferred never decided from the default",
    ),
    pytest.param(
        FIELD,
        record(unknown_fields=["newsletter"]),
        email(None, "deferred", None),
        id="record naming email_permission_field in unknown_fields: deferred",
    ),
    pytest.param(
        FIELD,
        record(newsletter="yes", unknown_fields=["marketing_status"]),
        email(True, "email_permission_field", "yes"),
        id="with email_permission_field, an unknown marketing_status defers nothing",
    ),
    pytest.param(
        {},
        record(unknown_fields=["doi_status"]),
        email(True, "default_email_permission", None),
        id="a record lacking marketing_status without naming it gets the default",
    ),
    # Permissions follow these rules whatever merge_strategy, writable_fields, protect say.
    pytest.param(
        {
            "merge_strategy": "ignore",
            "writable_fields": ["first_name"],
            "protect_existing_values": True,
        },
        record(marketing_status="subscribed"),
        email(True, "marketing_status", "subscribed"),
        id="permissions whatever merge_strategy, writable_fields, protect_existing_values",
    ),
]


@pytest.mark.parametrize(("config", "incoming", "expected"), NEW)
def test_email_permission_of_a_new_person(config, incoming, expected):
    decided_email, decided_sms = decide_new(incoming, settings(**config))
    assert decided_email == expected
    if not set(config) & {"sms_permission_field"}:
        assert decided_sms == NO_SMS


SMS = [
    pytest.param({}, record(sms_ok="yes"), NO_SMS, id="sms: no sms_permission_field = false"),
    pytest.param(
        SMS_FIELD,
        record(sms_ok="Yes"),
        sms(True, "sms_permission_field", "Yes"),
        id="sms_permission_field: a value in sms_permission_values = yes",
    ),
    pytest.param(
        SMS_FIELD,
        record(custom_fields={"sms_ok": "nope"}),
        sms(False, "sms_permission_field", "nope"),
        id="sms_permission_field: any other non-empty value = no",
    ),
    pytest.param(
        SMS_FIELD,
        record(sms_ok=""),
        sms(False, "sms_default", ""),
        id="sms_permission_field empty = no permission, rule sms_default",
    ),
    pytest.param(
        {**SMS_FIELD, "default_email_permission": True},
        record(),
        sms(False, "sms_default", None),
        id="sms_permission_field absent = no permission (default_email_permission is email only)",
    ),
    pytest.param(
        {**SMS_FIELD, "sms_permission_values": ["si"]},
        record(sms_ok="SI"),
        sms(True, "sms_permission_field", "SI"),
        id="sms_permission_values replace the defaults (case-insensitive)",
    ),
    pytest.param(
        SMS_FIELD,
        record(unknown_fields=["sms_ok", "marketing_status"]),
        sms(False, "sms_default", None),
        id="SMS never defers (its default is no)",
    ),
]


@pytest.mark.parametrize(("config", "incoming", "expected"), SMS)
def test_sms_permission_of_a_new_person(config, incoming, expected):
    assert decide_new(incoming, settings(**config))[1] == expected


# --- Deferred: the first later record that carries the field decides ----------------------------

DEFERRED = [
    pytest.param(
        {},
        record(unknown_fields=["marketing_status"]),
        None,
        id="deferred: a record that still cannot tell decides nothing",
    ),
    pytest.param(
        {},
        record(marketing_status="subscribed"),
        email(True, "marketing_status", "subscribed"),
        id="deferred: the first record carrying the status decides as for a new person",
    ),
    pytest.param(
        {},
        record(marketing_status="no_consent"),
        email(False, "marketing_status", "no_consent"),
        id="deferred: decided no under the usual rule",
    ),
    pytest.param(
        {"default_email_permission": False},
        record(),
        email(False, "default_email_permission", None),
        id="deferred: a polling record lacking the field (no marketing app) takes the default",
    ),
    pytest.param(
        FIELD,
        record(newsletter="yes"),
        email(True, "email_permission_field", "yes"),
        id="deferred: decided by email_permission_field",
    ),
]


@pytest.mark.parametrize(("config", "incoming", "expected"), DEFERRED)
def test_deferred_email_permission(config, incoming, expected):
    assert decide_deferred(incoming, settings(**config)) == expected


WAITS = [
    pytest.param([email(None, "deferred", None)], True, id="waits: deferred"),
    pytest.param(
        [email(None, "deferred", None), email(None, "existing_person_unchanged", None)],
        True,
        id="waits: a later unchanged decision keeps it waiting",
    ),
    pytest.param(
        [email(None, "deferred", None), email(False, "merged", None)],
        False,
        id="waits no more: a merge lowered the deferred permission",
    ),
    pytest.param(
        [email(None, "deferred", None), email(False, "suppressed_email", "subscribed")],
        False,
        id="waits no more: a suppression set it",
    ),
    pytest.param(
        [email(None, "deferred", None), email(True, "marketing_status", "subscribed")],
        False,
        id="waits no more: decided from a status",
    ),
    pytest.param(
        [email(None, "deferred", None), sms(True, "sms_permission_field", "yes")],
        True,
        id="waits: an SMS decision does not decide email",
    ),
    pytest.param(
        [email(True, "marketing_status", "subscribed")], False, id="waits: never deferred"
    ),
]


@pytest.mark.parametrize(("decisions", "expected"), WAITS)
def test_waits(decisions, expected):
    assert waits(decisions) is expected


# --- Suppression --------------------------------------------------------------------------------

SUPPRESSION = [
    pytest.param(
        email(True, "marketing_status", "subscribed"),
        email(False, "suppressed_email", "subscribed"),
        id="suppressed: a yes becomes false, rule suppressed_email, Pipedrive value kept",
    ),
    pytest.param(
        email(True, "default_email_permission", None),
        email(False, "suppressed_email", None),
        id="suppressed: a default yes too",
    ),
    pytest.param(
        email(False, "marketing_status", "no_consent"),
        email(False, "marketing_status", "no_consent"),
        id="suppressed: only a yes is overridden, a no keeps its own rule",
    ),
    pytest.param(
        email(None, "deferred", None),
        email(None, "deferred", None),
        id="suppressed: a deferred (null) permission stays deferred",
    ),
]


@pytest.mark.parametrize(("decision", "expected"), SUPPRESSION)
def test_suppressed(decision, expected):
    assert suppressed(decision) == expected


OPTED_OUT = [
    pytest.param({}, True, [], False, id="opted out: only a false can be one (true)"),
    pytest.param({}, None, [], False, id="opted out: only a false can be one (null)"),
    pytest.param(
        {},
        False,
        [email(False, "marketing_status", "unsubscribed")],
        True,
        id="opted out: Pipedrive's unsubscribed (rule marketing_status)",
    ),
    pytest.param(
        {},
        False,
        [email(False, "marketing_status", " Unsubscribed")],
        True,
        id="opted out: unsubscribed compared trimmed and case-insensitively",
    ),
    pytest.param(
        {},
        False,
        [email(False, "marketing_status", "no_consent")],
        False,
        id="not opted out: created without permission from no_consent",
    ),
    pytest.param(
        {},
        False,
        [email(False, "marketing_status", "archived")],
        False,
        id="not opted out: archived",
    ),
    pytest.param(
        {},
        False,
        [email(False, "marketing_status", "pending")],
        False,
        id="not opted out: another status",
    ),
    pytest.param(
        {"default_email_permission": False},
        False,
        [email(False, "default_email_permission", None)],
        False,
        id="not opted out: default_email_permission false",
    ),
    pytest.param(
        {},
        False,
        [
            email(True, "marketing_status", "subscribed"),
            email(True, "existing_person_unchanged", "unsubscribed"),
        ],
        True,
        id="opted out: unsubscribed recorded later under existing_person_unchanged",
    ),
    pytest.param(
        FIELD,
        False,
        [email(False, "email_permission_field", "no")],
        True,
        id="opted out: a no of email_permission_field",
    ),
    pytest.param(
        FIELD,
        False,
        [
            email(False, "default_email_permission", ""),
            email(False, "existing_person_unchanged", "no"),
        ],
        True,
        id="opted out: a no of email_permission_field recorded under existing_person_unchanged",
    ),
    pytest.param(
        {},
        False,
        [email(False, "propagated_unsubscribe", "unsubscribed")],
        True,
        id="opted out: propagated_unsubscribe",
    ),
    pytest.param(
        {},
        False,
        [email(False, "suppressed_email", "subscribed")],
        True,
        id="opted out: suppressed_email (the opt-out passes on with the address)",
    ),
    pytest.param(
        {},
        False,
        [],
        True,
        id="opted out: a false no decision of the target set (another source, an operator)",
    ),
    pytest.param(
        {},
        False,
        [email(True, "marketing_status", "subscribed"), sms(False, "sms_default", None)],
        True,
        id="opted out: a false the target's decisions did not set (they said yes)",
    ),
]


@pytest.mark.parametrize(("config", "permission", "decisions", "expected"), OPTED_OUT)
def test_opted_out(config, permission, decisions, expected):
    stored = {"email_permission": permission, "sms_permission": False}
    assert opted_out(stored, decisions, settings(**config)) is expected


# --- Existing people and propagation ------------------------------------------------------------

SAYS_NO = [
    pytest.param({}, record(marketing_status="unsubscribed"), {"email"}, id="no: unsubscribed"),
    pytest.param(
        {}, record(marketing_status=" UnSubscribed "), {"email"}, id="no: trimmed, any case"
    ),
    pytest.param({}, record(marketing_status="no_consent"), set(), id="says nothing: no_consent"),
    pytest.param({}, record(marketing_status="archived"), set(), id="says nothing: archived"),
    pytest.param({}, record(marketing_status=""), set(), id="says nothing: emptied status"),
    pytest.param({}, record(marketing_status="subscribed"), set(), id="says nothing: subscribed"),
    pytest.param(
        FIELD, record(newsletter="no"), {"email"}, id="no: email_permission_field outside values"
    ),
    pytest.param(
        FIELD,
        record(newsletter="", marketing_status="unsubscribed"),
        set(),
        id="says nothing: email_permission_field emptied (status not read)",
    ),
    pytest.param(
        SMS_FIELD,
        record(sms_ok="no", marketing_status="unsubscribed"),
        {"email", "sms"},
        id="no: sms_permission_field outside sms_permission_values",
    ),
    pytest.param(SMS_FIELD, record(sms_ok=""), set(), id="says nothing: sms field emptied"),
    pytest.param(SMS_FIELD, record(sms_ok="yes"), set(), id="says nothing: sms yes"),
]


@pytest.mark.parametrize(("config", "incoming", "expected"), SAYS_NO)
def test_says_no(config, incoming, expected):
    assert says_no(incoming, settings(**config)) == expected


EXISTING = [
    pytest.param(
        {},
        record(marketing_status="unsubscribed"),
        {"email": True, "sms": True},
        set(),
        (
            email(True, "existing_person_unchanged", "unsubscribed"),
            sms(True, "existing_person_unchanged", None),
        ),
        id="existing person keeps permissions (value recorded, not applied)",
    ),
    pytest.param(
        {},
        record(marketing_status="subscribed"),
        {"email": False, "sms": None},
        set(),
        (
            email(False, "existing_person_unchanged", "subscribed"),
            sms(None, "existing_person_unchanged", None),
        ),
        id="existing person: never re-subscribed",
    ),
    pytest.param(
        {"propagate_unsubscribes": True},
        record(marketing_status="unsubscribed"),
        {"email": True, "sms": True},
        {"email"},
        (
            email(False, "propagated_unsubscribe", "unsubscribed"),
            sms(True, "existing_person_unchanged", None),
        ),
        id="propagation: a no lowers true to false (propagated_unsubscribe)",
    ),
    pytest.param(
        {"propagate_unsubscribes": True, **SMS_FIELD},
        record(sms_ok="stop"),
        {"email": True, "sms": True},
        {"sms"},
        (
            email(True, "existing_person_unchanged", None),
            sms(False, "propagated_unsubscribe", "stop"),
        ),
        id="propagation: SMS when sms_permission_field gets a no",
    ),
    pytest.param(
        {"propagate_unsubscribes": True},
        record(marketing_status="unsubscribed"),
        {"email": False, "sms": False},
        {"email"},
        (
            email(False, "existing_person_unchanged", "unsubscribed"),
            sms(False, "existing_person_unchanged", None),
        ),
        id="propagation: a false stays as it is",
    ),
    pytest.param(
        {"propagate_unsubscribes": True},
        record(marketing_status="unsubscribed"),
        {"email": None, "sms": False},
        {"email"},
        (
            email(None, "existing_person_unchanged", "unsubscribed"),
            sms(False, "existing_person_unchanged", None),
        ),
        id="propagation: an unknown (null) permission stays as it is",
    ),
    pytest.param(
        {"propagate_unsubscribes": True, **FIELD},
        record(newsletter="no"),
        {"email": True, "sms": False},
        {"email"},
        (
            email(False, "propagated_unsubscribe", "no"),
            sms(False, "existing_person_unchanged", None),
        ),
        id="propagation: email_permission_field value outside the values, source kept",
    ),
]


@pytest.mark.parametrize(("config", "incoming", "current", "lower", "expected"), EXISTING)
def test_decide_existing(config, incoming, current, lower, expected):
    assert decide_existing(incoming, settings(**config), current, lower) == expected


SOURCES = [
    pytest.param(
        {},
        record(marketing_status="unsubscribed", sms_ok="no"),
        {"email": "unsubscribed", "sms": None},
        id="Pipedrive values compared for news: marketing_status; no SMS field",
    ),
    pytest.param(
        {**FIELD, **SMS_FIELD},
        record(marketing_status="unsubscribed", custom_fields={"newsletter": "yes"}, sms_ok=False),
        {"email": "yes", "sms": "false"},
        id="Pipedrive values compared for news: the permission fields",
    ),
]


@pytest.mark.parametrize(("config", "incoming", "expected"), SOURCES)
def test_source_values(config, incoming, expected):
    assert source_values(incoming, settings(**config)) == expected
