"""Email and SMS permissions: rules for new people, suppression, propagation, decisions kept."""

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
        # Only subscribed is a yes; every other status Pipedrive gives is a no, whatever the
        # default (which is for people without any status: no marketing app).
        ("subscribed", True, True, "marketing_status"),
        ("subscribed", False, True, "marketing_status"),
        ("unsubscribed", True, False, "marketing_status"),
        ("no_consent", True, False, "marketing_status"),
        ("no_consent", False, False, "marketing_status"),
        ("archived", True, False, "marketing_status"),
        ("archived", False, False, "marketing_status"),
        ("pending_double_opt_in", True, False, "marketing_status"),
        (None, True, True, "default_email_permission"),
        (None, False, False, "default_email_permission"),
        ("", True, True, "default_email_permission"),
        # Compared trimmed and lower-cased; the decision keeps the value as Pipedrive sent it.
        (" Subscribed", False, True, "marketing_status"),
        ("UNSUBSCRIBED ", True, False, "marketing_status"),
        ("No_Consent", True, False, "marketing_status"),
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


@pytest.mark.parametrize("default", [True, False])
def test_absent_marketing_status_uses_the_default(cdp, default):
    # Without Pipedrive's marketing app the tap's records have no marketing_status at all.
    record = person(1, "a@acme.io")
    del record["marketing_status"]
    cdp.run(persons(record), default_email_permission=default)
    assert cdp.rows("people")[0]["email_permission"] is default
    made = decisions(cdp)
    assert (made[1, "email"]["rule"], made[1, "email"]["source_value"]) == (
        "default_email_permission",
        None,
    )


@pytest.mark.parametrize(
    ("newsletter", "sms_ok", "email", "sms", "email_rule", "sms_rule"),
    [
        ("Yes", True, True, True, "email_permission_field", "sms_permission_field"),
        ("no", False, False, False, "email_permission_field", "sms_permission_field"),
        # An empty field says nothing: the email default, and SMS's (no permission).
        (None, None, False, False, "default_email_permission", "sms_default"),
        (["Weekly", "Yes"], "true", True, True, "email_permission_field", "sms_permission_field"),
    ],
)
def test_mapped_permission_fields(cdp, newsletter, sms_ok, email, sms, email_rule, sms_rule):
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
    assert made[1, "sms"]["rule"] == sms_rule


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


def email_decisions(cdp, pid: int) -> list[tuple]:
    rows = cdp.rows(
        "permission_decisions",
        order_by="decided_at, decision_key",
        where=f"pipedrive_person_id = {pid} and channel = 'email'",
    )
    return [(d["rule"], d["value"], d["source_value"]) for d in rows]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, (False, "suppressed_email")),
        ({"suppress_unsubscribed_emails": False}, (True, "marketing_status")),
    ],
)
def test_person_recreated_after_delete_stays_unsubscribed(cdp, settings, expected):
    cdp.run(persons(person(1, "ann@acme.io", marketing_status="subscribed")), **settings)
    cdp.execute("update {s}.people set email_permission = false where pipedrive_person_id = 1")
    cdp.run(
        persons(person(1, "ann@acme.io", is_deleted=True, update_time=ts(2))),
        **settings,
    )
    cdp.run(
        persons(person(2, " Ann@ACME.io", marketing_status="subscribed", update_time=ts(1))),
        **settings,
    )
    people = {p["pipedrive_person_id"]: p for p in cdp.rows("people")}
    assert (people[1]["is_deleted"], people[1]["email_permission"]) == (True, False)
    assert people[2]["person_id"] != people[1]["person_id"]
    assert (people[2]["email"], people[2]["email_permission"]) == ("ann@acme.io", expected[0])
    assert email_decisions(cdp, 2) == [(expected[1], expected[0], "subscribed")]
    made = decisions(cdp)
    assert (made[2, "sms"]["rule"], made[2, "sms"]["value"]) == ("sms_default", False)
    [conflict] = cdp.rows("identity_conflicts")
    assert conflict["resolution"] == "created_separate_person"


def test_suppression_sees_people_created_earlier_in_the_batch(cdp):
    cdp.run(
        persons(
            person(1, "ann@acme.io", marketing_status="unsubscribed"),
            person(2, "ann@acme.io", marketing_status="subscribed"),
            person(3, "ann@acme.io", marketing_status="unsubscribed"),
            person(4, "bob@acme.io", marketing_status="subscribed"),
        )
    )
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in cdp.rows("people")}
    assert permission == {1: False, 2: False, 3: False, 4: True}
    assert email_decisions(cdp, 2) == [("suppressed_email", False, "subscribed")]
    # A no stands under its own rule; other emails are not affected.
    assert email_decisions(cdp, 3) == [("marketing_status", False, "unsubscribed")]
    assert email_decisions(cdp, 4) == [("marketing_status", True, "subscribed")]


def test_only_an_explicit_false_suppresses(duck):
    duck.migrate()
    duck.insert(
        "people",
        {"person_id": "crm-1", "email": "ann@acme.io", "email_permission": None},
    )
    duck.run(persons(person(1, "ann@acme.io", marketing_status="subscribed")))
    duck.run(persons(person(2, "ann@acme.io", marketing_status="subscribed")))
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in duck.rows("people")}
    assert permission == {1: None, 2: True}  # crm-1 was linked to 1 and kept its permission


def sync(cdp, *records: dict, **settings) -> None:
    cdp.run(persons(*records), sms_permission_field="sms_ok", **settings)


@pytest.mark.parametrize("propagate", [True, False])
def test_propagate_unsubscribes_lowers_and_never_raises(cdp, propagate):
    sync(
        cdp,
        person(1, "a@acme.io", marketing_status="subscribed", custom_fields={"sms_ok": True}),
        person(2, "b@acme.io", marketing_status="unsubscribed", custom_fields={"sms_ok": False}),
        person(3, "c@acme.io", marketing_status="subscribed", custom_fields={"sms_ok": True}),
    )
    sync(
        cdp,
        person(
            1,
            "a@acme.io",
            marketing_status="unsubscribed",
            custom_fields={"sms_ok": "no"},
            update_time=ts(1),
        ),
        person(
            2,
            "b@acme.io",
            marketing_status="subscribed",
            custom_fields={"sms_ok": True},
            update_time=ts(1),
        ),
        # Neither a no: no_consent and an emptied field say nothing.
        person(
            3,
            "c@acme.io",
            marketing_status="no_consent",
            custom_fields={"sms_ok": None},
            update_time=ts(1),
        ),
        propagate_unsubscribes=propagate,
    )
    rows = {r["pipedrive_person_id"]: r for r in cdp.rows("people")}
    permissions = {pid: (r["email_permission"], r["sms_permission"]) for pid, r in rows.items()}
    lowered = "propagated_unsubscribe" if propagate else "existing_person_unchanged"
    assert permissions == {
        1: (False, False) if propagate else (True, True),
        2: (False, False),
        3: (True, True),
    }
    made = decisions(cdp)
    assert (made[1, "email"]["rule"], made[1, "email"]["source_value"]) == (
        lowered,
        "unsubscribed",
    )
    assert (made[1, "sms"]["rule"], made[1, "sms"]["source_value"]) == (lowered, "no")
    assert {made[pid, channel]["rule"] for pid in (2, 3) for channel in ("email", "sms")} == {
        "existing_person_unchanged"
    }
    assert (made[2, "email"]["value"], made[2, "sms"]["value"]) == (False, False)


def test_propagation_acts_on_a_change_only(duck):
    duck.run(persons(person(1, "a@acme.io", marketing_status="unsubscribed")))
    # Someone resubscribes the person in the CDP; Pipedrive still says unsubscribed.
    duck.execute("update {s}.people set email_permission = true")
    duck.run(
        persons(
            person(
                1, "a@acme.io", marketing_status="unsubscribed", first_name="Ann", update_time=ts(1)
            )
        ),
        propagate_unsubscribes=True,
    )
    [row] = duck.rows("people")
    assert (row["first_name"], row["email_permission"]) == ("Ann", True)
    assert email_decisions(duck, 1) == [("marketing_status", False, "unsubscribed")]


def test_propagation_on_linking_an_existing_person(cdp):
    cdp.migrate()
    cdp.insert(
        "people",
        {"person_id": "crm-1", "email": "a@acme.io", "email_permission": True, "source": "crm"},
    )
    cdp.run(
        persons(person(1, "a@acme.io", marketing_status="unsubscribed")),
        propagate_unsubscribes=True,
    )
    [row] = cdp.rows("people")
    assert (row["person_id"], row["email_permission"]) == ("crm-1", False)
    assert email_decisions(cdp, 1) == [("propagated_unsubscribe", False, "unsubscribed")]


def test_suppression_sees_an_unsubscribe_propagated_earlier_in_the_batch(duck):
    duck.run(persons(person(1, "a@acme.io", marketing_status="subscribed")))
    duck.run(
        persons(
            person(1, "a@acme.io", marketing_status="unsubscribed", update_time=ts(1)),
            person(2, "a@acme.io", marketing_status="subscribed"),
        ),
        propagate_unsubscribes=True,
    )
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in duck.rows("people")}
    assert permission == {1: False, 2: False}
    assert email_decisions(duck, 2) == [("suppressed_email", False, "subscribed")]


def test_suppression_matches_stored_emails_whatever_their_case_and_spaces(duck):
    duck.migrate()
    duck.insert(
        "people",
        {
            "person_id": "crm-1",
            "email": " Ann@ACME.io ",
            "email_permission": False,
            "pipedrive_person_id": 9,
            "source": "crm",
        },
    )
    duck.run(persons(person(1, "ann@acme.io", marketing_status="subscribed")))
    assert email_decisions(duck, 1) == [("suppressed_email", False, "subscribed")]


def test_propagated_unsubscribe_ignores_case(duck):
    duck.run(persons(person(1, "a@acme.io", marketing_status="subscribed")))
    update = person(1, "a@acme.io", marketing_status="Unsubscribed", update_time=ts(1))
    duck.run(persons(update), propagate_unsubscribes=True)
    assert duck.rows("people")[0]["email_permission"] is False


@pytest.mark.parametrize(
    ("status", "default"),
    [("no_consent", True), ("archived", True), ("pending_double_opt_in", True), (None, False)],
)
@pytest.mark.parametrize("same_batch", [True, False])
def test_an_absence_of_consent_never_suppresses(cdp, status, default, same_batch):
    # Only an opt-out suppresses: a person who never agreed to marketing did not refuse it.
    first = person(1, "ann@acme.io", marketing_status=status)
    second = person(2, " Ann@acme.io", marketing_status="subscribed")
    if same_batch:
        cdp.run(persons(first, second), default_email_permission=default)
    else:
        cdp.run(persons(first), default_email_permission=default)
        cdp.run(persons(second), default_email_permission=default)
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in cdp.rows("people")}
    assert permission == {1: False, 2: True}
    assert email_decisions(cdp, 2) == [("marketing_status", True, "subscribed")]


@pytest.mark.parametrize("same_batch", [True, False])
def test_an_unsubscribe_recorded_later_suppresses(cdp, same_batch):
    # A no_consent person who then unsubscribes in Pipedrive has opted out, even though the
    # CDP permission (already false) did not change.
    cdp.run(persons(person(1, "ann@acme.io", marketing_status="no_consent")))
    unsubscribed = person(1, "ann@acme.io", marketing_status=" Unsubscribed", update_time=ts(1))
    newcomer = person(2, "ann@acme.io", marketing_status="subscribed")
    if same_batch:
        cdp.run(persons(unsubscribed, newcomer))
    else:
        cdp.run(persons(unsubscribed))
        cdp.run(persons(newcomer))
    assert email_decisions(cdp, 1)[-1] == ("existing_person_unchanged", False, " Unsubscribed")
    assert email_decisions(cdp, 2) == [("suppressed_email", False, "subscribed")]


@pytest.mark.parametrize(("newsletter", "expected"), [("no", False), (None, True)])
def test_permission_field_no_suppresses_and_empty_does_not(cdp, newsletter, expected):
    settings = {
        "email_permission_field": "newsletter",
        "email_permission_values": ["yes"],
        "default_email_permission": False,
    }
    first = person(1, "ann@acme.io", custom_fields={"newsletter": newsletter})
    cdp.run(persons(first), **settings)
    cdp.run(persons(person(2, "ann@acme.io", custom_fields={"newsletter": "Yes"})), **settings)
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in cdp.rows("people")}
    assert permission == {1: False, 2: expected}


def test_a_suppressed_person_passes_the_opt_out_on(duck):
    # 2 is suppressed by 1's unsubscribe; 1 then changes address: 3 is still suppressed by 2.
    duck.run(
        persons(
            person(1, "ann@acme.io", marketing_status="unsubscribed"),
            person(2, "ann@acme.io", marketing_status="subscribed"),
        )
    )
    duck.run(persons(person(1, "ann@new.io", marketing_status="unsubscribed", update_time=ts(1))))
    duck.run(persons(person(3, "ann@acme.io", marketing_status="subscribed")))
    assert email_decisions(duck, 3) == [("suppressed_email", False, "subscribed")]


@pytest.mark.parametrize(
    ("absorbed_decisions", "expected"),
    [
        # The person merged into crm-1 unsubscribed: the merge lowered crm-1 because of it.
        ([("marketing_status", False, "unsubscribed")], (False, "suppressed_email")),
        # It had only never agreed: crm-1's false is no opt-out.
        ([("marketing_status", False, "no_consent")], (True, "marketing_status")),
    ],
)
def test_a_merge_passes_on_the_absorbed_persons_opt_out(cdp, absorbed_decisions, expected):
    cdp.migrate()
    cdp.insert(
        "people",
        {
            "person_id": "crm-1",
            "email": "ann@acme.io",
            "email_permission": False,
            "pipedrive_person_id": 9,
            "merged_into": None,
        },
        {
            "person_id": "crm-2",
            "email": "ann@old.io",
            "email_permission": False,
            "pipedrive_person_id": None,
            "merged_into": "crm-1",
        },
    )
    made = [("crm-1", "merged", False, None)]
    made += [("crm-2", *decision) for decision in absorbed_decisions]
    cdp.insert(
        "permission_decisions",
        *(
            {
                "decision_key": f"{person_id}:{rule}",
                "person_id": person_id,
                "channel": "email",
                "value": value,
                "rule": rule,
                "source_value": source,
            }
            for person_id, rule, value, source in made
        ),
    )
    cdp.run(persons(person(5, "ann@acme.io", marketing_status="subscribed")))
    [decision] = email_decisions(cdp, 5)
    assert (decision[1], decision[0]) == expected


# -- live mode: a record that cannot tell the status defers the decision ----------------------

UNKNOWN = ["doi_status", "marketing_status"]


def live_stream(*records: dict) -> list[dict]:
    """Persons as tap-pipedrive's live mode sends them: its SCHEMA declares ``unknown_fields``
    and ``merged_to_id``."""
    messages = persons(*records)
    messages[0]["schema"]["properties"] |= {
        "unknown_fields": {"type": ["array", "null"], "items": {"type": "string"}},
        "merged_to_id": {"type": ["integer", "null"]},
    }
    return messages


def live_person(pid: int, email: str, **fields) -> dict:
    """A person built from a webhook: no status, and the record says it cannot tell it."""
    record = person(pid, email, unknown_fields=UNKNOWN, **fields)
    del record["marketing_status"]
    return record


@pytest.mark.parametrize(
    ("status", "default", "expected", "rule"),
    [
        ("subscribed", False, True, "marketing_status"),
        ("no_consent", True, False, "marketing_status"),
        # The polling record has no status at all (no marketing app): the default decides.
        (None, True, True, "default_email_permission"),
        (None, False, False, "default_email_permission"),
    ],
)
def test_a_live_record_defers_a_new_persons_email_permission(cdp, status, default, expected, rule):
    def run(record: dict) -> dict:
        cdp.run(live_stream(record), default_email_permission=default)
        [row] = cdp.rows("people")
        return row

    first = run(live_person(1, "a@acme.io", update_time=ts(3)))
    assert (first["email_permission"], first["sms_permission"]) == (None, False)
    assert email_decisions(cdp, 1) == [("deferred", None, None)]
    # Another live record decides nothing either.
    again = run(live_person(1, "a@acme.io", first_name="Ann", update_time=ts(2)))
    assert (again["first_name"], again["email_permission"]) == ("Ann", None)
    assert email_decisions(cdp, 1) == [("deferred", None, None)]

    polled = person(1, "a@acme.io", first_name="Ann", update_time=ts(1))
    if status is None:
        del polled["marketing_status"]
    else:
        polled["marketing_status"] = status
    assert run(polled)["email_permission"] is expected
    assert email_decisions(cdp, 1) == [("deferred", None, None), (rule, expected, status)]
    # Decided once: a later live record keeps it.
    assert run(live_person(1, "a@acme.io", update_time=ts(0.5)))["email_permission"] is expected
    assert len(email_decisions(cdp, 1)) == 2


def test_a_live_record_keeps_what_the_cdp_knows(cdp):
    cdp.run(live_stream(person(1, "a@acme.io", marketing_status="unsubscribed")))
    cdp.run(live_stream(live_person(1, "a@acme.io", first_name="Ann", update_time=ts(1))))
    [row] = cdp.rows("people")
    assert (row["first_name"], row["email_permission"]) == ("Ann", False)
    assert row["attributes"]["marketing_status"] == "unsubscribed"
    assert "unknown_fields" not in row["attributes"]
    [stored] = cdp.rows("pipedrive_records", where="stream = 'persons'")
    assert stored["record"]["marketing_status"] == "unsubscribed"
    # The stored record lacked doi_status too: it stays unknown.
    assert stored["record"]["unknown_fields"] == ["doi_status"]
    [updated] = [
        a for a in cdp.rows("activities") if a["activity_type"] == "pipedrive.person.updated"
    ]
    assert updated["attributes"] == {"changes": {"first_name": {"old": "Person", "new": "Ann"}}}
    assert email_decisions(cdp, 1) == [("marketing_status", False, "unsubscribed")]


def test_a_deferred_decision_is_suppressed_by_an_opt_out(duck):
    duck.run(live_stream(person(1, "ann@acme.io", marketing_status="unsubscribed")))
    duck.run(live_stream(live_person(2, "Ann@acme.io ", update_time=ts(2))))
    assert email_decisions(duck, 2) == [("deferred", None, None)]
    duck.run(
        live_stream(person(2, "ann@acme.io", marketing_status="subscribed", update_time=ts(1)))
    )
    assert email_decisions(duck, 2)[-1] == ("suppressed_email", False, "subscribed")


def test_a_merge_with_a_deferred_person_is_never_raised_later(duck):
    duck.run(live_stream(person(1, "a@acme.io", marketing_status="subscribed", update_time=ts(5))))
    duck.run(live_stream(live_person(2, "b@acme.io", update_time=ts(4))))
    merged = live_person(2, "b@acme.io", is_deleted=True, update_time=ts(3), merged_to_id=1)
    duck.run(live_stream(merged))
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in duck.rows("people")}
    assert permission[1] is None  # the merge took the more restrictive: unknown
    duck.run(live_stream(person(1, "a@acme.io", marketing_status="subscribed", update_time=ts(1))))
    permission = {p["pipedrive_person_id"]: p["email_permission"] for p in duck.rows("people")}
    assert permission[1] is None  # 1 never waited: the merge decided it
