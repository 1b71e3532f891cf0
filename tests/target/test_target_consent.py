"""Email and SMS permissions: rules for new people, existing people untouched, decisions kept."""

from __future__ import annotations

import pytest
from target_messages import person, stream_of, ts


def persons(*records: dict) -> list[dict]:
    return stream_of("persons", list(records), custom_fields=("newsletter", "sms_ok"))


def decisions(cdp) -> dict[tuple[int, str], dict]:
    return {(d["pipedrive_person_id"], d["channel"]): d for d in cdp.rows("permission_decisions")}


@pytest.mark.parametrize(
    ("status", "default", "expected", "rule"),
    [
        ("subscribed", True, True, "marketing_status"),
        ("subscribed", False, True, "marketing_status"),
        ("unsubscribed", True, False, "marketing_status"),
        ("no_consent", True, True, "default_email_permission"),
        ("no_consent", False, False, "default_email_permission"),
        ("archived", True, True, "default_email_permission"),
        ("archived", False, False, "default_email_permission"),
        (None, True, True, "default_email_permission"),
    ],
)
def test_marketing_status_decides_new_people(cdp, status, default, expected, rule):
    cdp.run(
        persons(person(1, "a@acme.io", marketing_status=status)), default_email_permission=default
    )
    [row] = cdp.rows("people")
    assert row["email_permission"] is expected
    assert row["sms_permission"] is False
    made = decisions(cdp)
    assert (
        made[1, "email"]["value"],
        made[1, "email"]["rule"],
        made[1, "email"]["source_value"],
    ) == (
        expected,
        rule,
        status,
    )
    assert (made[1, "sms"]["value"], made[1, "sms"]["rule"]) == (False, "sms_default")


def test_absent_marketing_status_uses_the_default(duck):
    record = person(1, "a@acme.io")
    del record["marketing_status"]
    duck.run(persons(record), default_email_permission=False)
    assert duck.rows("people")[0]["email_permission"] is False


@pytest.mark.parametrize(
    ("newsletter", "sms_ok", "email", "sms", "email_rule"),
    [
        ("Yes", True, True, True, "email_permission_field"),
        ("no", False, False, False, "email_permission_field"),
        (None, None, False, False, "default_email_permission"),
        (["Weekly", "Yes"], "true", True, True, "email_permission_field"),
    ],
)
def test_mapped_permission_fields(cdp, newsletter, sms_ok, email, sms, email_rule):
    record = person(1, "a@acme.io", marketing_status="subscribed")
    record["custom_fields"] = {"newsletter": newsletter, "sms_ok": sms_ok}
    cdp.run(
        persons(record),
        email_permission_field="newsletter",
        email_permission_values=["yes"],
        sms_permission_field="sms_ok",
        sms_permission_values=["true"],
        default_email_permission=False,
    )
    [row] = cdp.rows("people")
    assert (row["email_permission"], row["sms_permission"]) == (email, sms)
    made = decisions(cdp)
    assert made[1, "email"]["rule"] == email_rule
    assert made[1, "sms"]["rule"] == "sms_permission_field"


def test_existing_people_keep_their_permissions(cdp):
    cdp.migrate()
    cdp.insert(
        "people",
        {
            "person_id": "crm-1",
            "email": "a@acme.io",
            "email_permission": False,
            "sms_permission": False,
        },
        {
            "person_id": "crm-2",
            "email": "b@acme.io",
            "email_permission": True,
            "sms_permission": True,
        },
    )
    cdp.run(
        persons(
            person(1, "a@acme.io", marketing_status="subscribed"),
            person(
                2, "b@acme.io", marketing_status="unsubscribed", custom_fields={"sms_ok": False}
            ),
        ),
        sms_permission_field="sms_ok",
    )
    rows = {r["person_id"]: r for r in cdp.rows("people")}
    assert (rows["crm-1"]["email_permission"], rows["crm-1"]["sms_permission"]) == (False, False)
    assert (rows["crm-2"]["email_permission"], rows["crm-2"]["sms_permission"]) == (True, True)
    made = decisions(cdp)
    assert made[1, "email"]["rule"] == "existing_person_unchanged"
    assert (made[1, "email"]["value"], made[1, "email"]["source_value"]) == (False, "subscribed")
    assert (made[2, "email"]["value"], made[2, "email"]["source_value"]) == (True, "unsubscribed")
    assert (made[2, "sms"]["value"], made[2, "sms"]["source_value"]) == (True, "false")


def test_sync_never_changes_permissions_of_people_it_created(duck):
    duck.run(persons(person(1, "a@acme.io", marketing_status="subscribed")))
    duck.run(persons(person(1, "a@acme.io", marketing_status="unsubscribed", update_time=ts(1))))
    [row] = duck.rows("people")
    assert row["email_permission"] is True
    email_decisions = [
        d
        for d in duck.rows("permission_decisions", order_by="decision_key")
        if d["channel"] == "email"
    ]
    assert [(d["rule"], d["value"], d["source_value"]) for d in email_decisions] == [
        ("marketing_status", True, "subscribed"),
        ("existing_person_unchanged", True, "unsubscribed"),
    ]
