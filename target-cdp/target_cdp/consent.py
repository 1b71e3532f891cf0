"""Email and SMS permissions of people the target creates, and the record of every decision.

A new person's email permission follows Pipedrive's ``marketing_status`` (its values are
``subscribed``, ``unsubscribed``, ``no_consent`` and ``archived``): only ``subscribed`` is a
yes, the one status Pipedrive's own Campaigns mails. ``no_consent`` (Pipedrive's default, also
what a person without a valid email gets) and ``unsubscribed`` are a no; so is ``archived``
(taken off the marketing list: the consent is kept on record, the person is not mailed) and
any other status. ``default_email_permission`` applies only when Pipedrive gives no status at
all: the account has no marketing app, so records carry no ``marketing_status`` (absent, null
or empty). A permission field set by the user (``email_permission_field``,
``sms_permission_field``) follows the same shape: a value meaning yes, any other value a no,
nothing at all the default (SMS: no permission).

A record that cannot tell the deciding field is not a record without it. tap-pipedrive's live
mode builds persons from webhooks, which never carry ``marketing_status``, and names it in the
record's ``unknown_fields`` (``unknown_fields.py``); an account without the marketing app sends
records that simply lack it. A new person whose record cannot tell is created with no email
permission (null: unknown, which audiences count as no) under the rule ``deferred``; the first
later record of that person that carries the field (the next polling sync) decides it as for a
new person (suppression included). A record that lacks the field without naming it still gets
the default, so an account without the marketing app is decided by its first polling record.
A live record therefore never raises a permission. Only email defers: SMS's default is no.

A person who already exists keeps both permissions whatever Pipedrive says (a sync never
re-subscribes anyone nor silently unsubscribes them); the decision is still recorded, with the
Pipedrive value that was not applied. Two settings refine this: ``suppress_unsubscribed_emails``
(on by default) creates a person unsubscribed when another CDP person with the same email has
opted out, and ``propagate_unsubscribes`` (off by default) lets a Pipedrive "no" lower an
existing person's permission. Neither ever raises a permission.

An opt-out is an explicit no, never a mere absence of consent: a person created ``no_consent``
did not refuse anything, and a duplicate of them who subscribed must not lose that consent. The
``permission_decisions`` rows tell the two apart (``opted_out``): a false that the target
decided itself from an absence of consent is not an opt-out; a Pipedrive ``unsubscribed`` (or
a permission field's no) recorded for the person, an unsubscribe propagated or a suppression
is; so is a false the target never decided (another source's or an operator's), which the
target cannot explain and so treats as the stricter of the two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from target_cdp.settings import Settings
from target_cdp.unknown_fields import is_unknown

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
#: Rule of a new person's email decision left to the first record that can tell the field.
DEFERRED = "deferred"

#: Rules of decisions that are an opt-out whatever their values.
OPT_OUT_RULES = frozenset({"propagated_unsubscribe", "suppressed_email"})
#: Rules under which the target itself set a permission (a new person's, a merged one's).
SETTING_RULES = frozenset(
    {"email_permission_field", "marketing_status", "default_email_permission", "merged"}
)


@dataclass(frozen=True)
class Decision:
    """One permission decision, as stored in ``permission_decisions``."""

    channel: str
    value: bool | None
    rule: str
    source_value: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Decision:
        """The decision of a ``permission_decisions`` row."""
        return cls(row["channel"], row["value"], row["rule"], row["source_value"])


def field_value(record: dict, field: str) -> Any:
    """A Pipedrive person field by record key, else by custom field readable name."""
    if field in record:
        return record[field]
    return (record.get("custom_fields") or {}).get(field)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _mapped(record: dict, field: str, yes: frozenset[str]) -> tuple[bool | None, str | None]:
    source = _text(field_value(record, field))
    return _means(source, yes), source


def _means(source: str | None, yes: frozenset[str]) -> bool | None:
    """A permission field's value: yes, no, or None when empty (it says nothing)."""
    if source is None or not source.strip():
        return None
    return bool({v.strip().lower() for v in source.split(",")} & yes)


def _status(record: dict) -> str | None:
    """``marketing_status`` trimmed and lower-cased (``Subscribed`` means subscribed).

    None when Pipedrive gives no status (absent, null or blank: no marketing app).
    """
    return _normal_status(_text(record.get("marketing_status")))


def _normal_status(status: str | None) -> str | None:
    return (status.strip().lower() or None) if status is not None else None


def source_values(record: dict, settings: Settings) -> dict[str, str | None]:
    """What Pipedrive says about each channel (to notice when it changes)."""
    email_field = settings.email_permission_field or "marketing_status"
    sms = (
        _text(field_value(record, settings.sms_permission_field))
        if settings.sms_permission_field
        else None
    )
    return {"email": _text(field_value(record, email_field)), "sms": sms}


def decide_new(record: dict, settings: Settings) -> tuple[Decision, Decision]:
    """Email and SMS permission of a person created from this Pipedrive record."""
    if is_unknown(record, settings.email_permission_field or "marketing_status"):
        email = Decision("email", None, DEFERRED, None)
    elif settings.email_permission_field:
        value, source = _mapped(
            record, settings.email_permission_field, settings.email_permission_values
        )
        email = (
            Decision("email", value, "email_permission_field", source)
            if value is not None
            else Decision(
                "email", settings.default_email_permission, "default_email_permission", source
            )
        )
    else:
        status = _text(record.get("marketing_status"))
        if _status(record):
            email = Decision("email", _status(record) == SUBSCRIBED, "marketing_status", status)
        else:
            email = Decision(
                "email", settings.default_email_permission, "default_email_permission", status
            )
    sms = Decision("sms", False, "sms_default", None)
    if settings.sms_permission_field:
        value, source = _mapped(
            record, settings.sms_permission_field, settings.sms_permission_values
        )
        sms = (
            Decision("sms", value, "sms_permission_field", source)
            if value is not None
            else Decision("sms", False, "sms_default", source)
        )
    return email, sms


def decide_deferred(record: dict, settings: Settings) -> Decision | None:
    """The email decision of a person whose first record could not tell it, from this record.

    None while this record cannot tell either.
    """
    email, _ = decide_new(record, settings)
    return None if email.rule == DEFERRED else email


def waits(own: Iterable[Decision]) -> bool:
    """Whether a person's own email decisions leave its permission deferred: one deferred, and
    none since that set a value (a merge, a suppression, a decision from a status...)."""
    rules = {d.rule for d in own if d.channel == "email"}
    return DEFERRED in rules and not rules & (SETTING_RULES | OPT_OUT_RULES)


def suppressed(email: Decision) -> Decision:
    """A new person's email decision when someone else in the CDP with the email opted out.

    Only a yes is overridden: a no stands under the rule that made it.
    """
    if not email.value:
        return email
    return Decision("email", False, "suppressed_email", email.source_value)


def says_no(record: dict, settings: Settings) -> set[str]:
    """The channels for which this Pipedrive record is an explicit no.

    Email: ``marketing_status`` is ``unsubscribed`` or, when ``email_permission_field`` is set,
    that field has a non-empty value outside ``email_permission_values``; SMS likewise with
    ``sms_permission_field``. An empty value, ``no_consent`` or ``archived`` says nothing.
    """
    channels: set[str] = set()
    if settings.email_permission_field:
        value, _ = _mapped(
            record, settings.email_permission_field, settings.email_permission_values
        )
        if value is False:
            channels.add("email")
    elif _status(record) == UNSUBSCRIBED:
        channels.add("email")
    if settings.sms_permission_field:
        value, _ = _mapped(record, settings.sms_permission_field, settings.sms_permission_values)
        if value is False:
            channels.add("sms")
    return channels


def _opts_out(decision: Decision, settings: Settings) -> bool:
    """Whether a recorded email decision is an explicit opt-out.

    A value Pipedrive gave (``source_value``) is read as ``says_no`` reads a record: by the
    field its rule names, else (``existing_person_unchanged``) by the current settings.
    """
    if decision.rule in OPT_OUT_RULES:
        return True
    if decision.rule == "marketing_status":
        return _normal_status(decision.source_value) == UNSUBSCRIBED
    if decision.rule == "email_permission_field":
        return decision.value is False
    if decision.rule != "existing_person_unchanged":
        return False
    if settings.email_permission_field:
        return _means(decision.source_value, settings.email_permission_values) is False
    return _normal_status(decision.source_value) == UNSUBSCRIBED


def opted_out(person: dict[str, Any], decisions: Iterable[Decision], settings: Settings) -> bool:
    """Whether a CDP person's email permission is an opt-out, which suppresses its email.

    ``decisions``: the person's recorded decisions (and those of people merged into it). Only a
    false can be one: it is an opt-out when a decision says so, or when no decision of the
    target set a false (another source or an operator did, for a reason the CDP does not hold).
    """
    if person["email_permission"] is not False:
        return False
    email = [d for d in decisions if d.channel == "email"]
    if any(_opts_out(d, settings) for d in email):
        return True
    return not any(d.rule in SETTING_RULES and d.value is False for d in email)


def decide_existing(
    record: dict, settings: Settings, current: dict[str, bool | None], lower: set[str]
) -> tuple[Decision, Decision]:
    """Decisions for an existing person: permissions stay, except a true in ``lower`` goes false."""
    sources = source_values(record, settings)

    def decide(channel: str) -> Decision:
        if channel in lower and current[channel] is True:
            return Decision(channel, False, "propagated_unsubscribe", sources[channel])
        return Decision(channel, current[channel], "existing_person_unchanged", sources[channel])

    return decide("email"), decide("sms")


def decision_row(
    decision: Decision,
    person_id: str,
    pipedrive_person_id: int,
    when: dt.datetime | None,
    occasion: str,
) -> dict[str, Any]:
    """The ``permission_decisions`` row of a decision (deterministic key)."""
    return {
        "decision_key": (
            f"{person_id}:{decision.channel}:pipedrive:{pipedrive_person_id}:{occasion}"
        ),
        "person_id": person_id,
        "pipedrive_person_id": pipedrive_person_id,
        "channel": decision.channel,
        "value": decision.value,
        "rule": decision.rule,
        "source_value": decision.source_value,
        "decided_at": when,
    }
