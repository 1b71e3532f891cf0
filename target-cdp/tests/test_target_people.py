"""Persons into people: identity, merge strategies and field settings, out-of-order records."""

from __future__ import annotations

import pytest
from target_messages import organization, person, record, schema, stream_of, ts

EXISTING_WITH_VALUES = {
    "person_id": "crm-1",
    "email": "ann@acme.io",
    "first_name": "Ann",
    "last_name": "Old",
    "phone": "",
    "email_permission": False,
    "sms_permission": True,
    "attributes": {"custom_fields": {"lead_source": "crm"}, "owner_id": 0},
    "source": "crm",
}
EXISTING_WITHOUT_VALUES = {
    "person_id": "crm-1",
    "email": "ann@acme.io",
    "email_permission": False,
    "sms_permission": True,
    "attributes": {},
    "source": "crm",
}
INCOMING = person(
    1,
    " ANN@Acme.io ",
    first_name="Annie",
    last_name="Smith",
    phones=[{"value": "+49 30 1", "primary": True, "label": "work"}],
    owner_id=7,
    custom_fields={"lead_source": "web"},
)
FILLED = {
    "first_name": "Annie",
    "last_name": "Smith",
    "phone": "+49 30 1",
    "owner_id": 7,
    "lead_source": "web",
}


def persons(*records: dict) -> list[dict]:
    return stream_of("persons", list(records), custom_fields=("lead_source",))


def view(row: dict) -> dict:
    attributes = row["attributes"] or {}
    return {
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "phone": row["phone"],
        "owner_id": attributes.get("owner_id"),
        "lead_source": (attributes.get("custom_fields") or {}).get("lead_source"),
    }


KEPT = {"first_name": "Ann", "last_name": "Old", "phone": "", "owner_id": 0, "lead_source": "crm"}
EMPTY = {
    "first_name": None,
    "last_name": None,
    "phone": None,
    "owner_id": None,
    "lead_source": None,
}


@pytest.mark.parametrize(
    ("strategy", "existing", "expected"),
    [
        ("overwrite_existing", EXISTING_WITH_VALUES, FILLED),
        ("overwrite_existing", EXISTING_WITHOUT_VALUES, FILLED),
        ("append_only", EXISTING_WITH_VALUES, KEPT),
        ("append_only", EXISTING_WITHOUT_VALUES, FILLED),
        ("ignore", EXISTING_WITH_VALUES, KEPT),
        ("ignore", EXISTING_WITHOUT_VALUES, EMPTY),
    ],
)
def test_merge_strategy_on_existing_person(cdp, strategy, existing, expected):
    cdp.migrate()
    cdp.insert("people", existing)
    cdp.run(persons(INCOMING), merge_strategy=strategy)
    [row] = cdp.rows("people")
    assert row["person_id"] == "crm-1"  # merged by email, case and spaces ignored
    assert row["pipedrive_person_id"] == 1
    assert view(row) == expected
    assert (row["email_permission"], row["sms_permission"]) == (False, True)


@pytest.mark.parametrize("strategy", ["overwrite_existing", "append_only", "ignore"])
def test_every_strategy_creates_a_person_that_does_not_exist(cdp, strategy):
    cdp.run(persons(INCOMING), merge_strategy=strategy)
    [row] = cdp.rows("people")
    assert view(row) == FILLED
    assert row["email"] == "ann@acme.io"
    assert row["source"] == "pipedrive"
    assert row["pipedrive_person_id"] == 1


def test_overwrite_clears_explicit_null_and_leaves_absent_fields(duck):
    duck.run(persons(INCOMING))
    update = {k: v for k, v in INCOMING.items() if k != "phones"}
    update |= {"last_name": None, "update_time": ts(1), "custom_fields": {"lead_source": None}}
    duck.run(persons(update))
    [row] = duck.rows("people")
    assert row["last_name"] is None  # explicit null clears
    assert row["phone"] == "+49 30 1"  # absent: untouched
    assert "lead_source" not in row["attributes"].get("custom_fields", {})


def test_append_only_ignores_nulls_and_keeps_empty_string_and_zero(duck):
    duck.migrate()
    duck.insert("people", {**EXISTING_WITH_VALUES, "last_name": None})
    update = {**INCOMING, "last_name": None}
    duck.run(persons(update), merge_strategy="append_only")
    [row] = duck.rows("people")
    assert row["last_name"] is None
    assert row["phone"] == ""
    assert row["attributes"]["owner_id"] == 0


def test_protect_existing_values_overrides_overwrite(duck):
    duck.migrate()
    duck.insert("people", {**EXISTING_WITH_VALUES, "last_name": None})
    duck.run(persons(INCOMING), protect_existing_values=True)
    [row] = duck.rows("people")
    assert view(row) == {**KEPT, "last_name": "Smith"}


def test_writable_fields_limit_what_pipedrive_writes(cdp):
    cdp.migrate()
    cdp.insert("people", EXISTING_WITH_VALUES)
    cdp.run(persons(INCOMING), writable_fields=["first_name", "attributes.custom_fields"])
    [row] = cdp.rows("people")
    assert view(row) == {**KEPT, "first_name": "Annie", "lead_source": "web"}


def test_writable_fields_apply_to_new_people_except_the_email(duck):
    duck.run(persons(INCOMING), writable_fields=["last_name"])
    [row] = duck.rows("people")
    assert row["email"] == "ann@acme.io"
    assert view(row) == {**EMPTY, "last_name": "Smith"}


def test_create_new_people_false_only_updates_existing_people(cdp):
    cdp.migrate()
    cdp.insert("people", EXISTING_WITHOUT_VALUES)
    stats = persons(INCOMING, person(2, "new@acme.io"))
    cdp.run(stats, create_new_people=False)
    [row] = cdp.rows("people")
    assert row["person_id"] == "crm-1"
    assert view(row) == FILLED
    [run] = cdp.rows("sync_runs")
    assert run["counts"]["persons"]["skipped"] == 1
    assert run["counts"]["persons"]["updated"] == 1


@pytest.mark.parametrize(
    "junk",
    ["", "null", "-1", "0000", "anonymous", "noemail@acme.io", "test@example.com", "none@none.com"],
)
def test_junk_identifiers_never_match(duck, junk):
    duck.migrate()
    duck.insert("people", {**EXISTING_WITHOUT_VALUES, "email": junk})
    duck.run(persons(person(1, junk or None, emails=[{"value": junk, "primary": True}])))
    rows = duck.rows("people", order_by="person_id")
    assert [r["person_id"] for r in rows] != ["crm-1"]
    assert len(rows) == 2
    created = next(r for r in rows if r["pipedrive_person_id"] == 1)
    assert created["email"] is None


def test_two_pipedrive_persons_never_collapse(cdp):
    cdp.migrate()
    cdp.insert("people", EXISTING_WITHOUT_VALUES)
    cdp.run(
        persons(
            person(1, "ann@acme.io"),
            person(2, "Ann@acme.io"),
            person(3, "bob@acme.io"),
            person(4, "bob@acme.io"),
        )
    )
    rows = {r["pipedrive_person_id"]: r for r in cdp.rows("people")}
    assert rows[1]["person_id"] == "crm-1"
    assert len({r["person_id"] for r in rows.values()}) == 4
    conflicts = cdp.rows("identity_conflicts", order_by="pipedrive_person_id")
    assert [
        (c["pipedrive_person_id"], c["conflicting_pipedrive_person_id"], c["resolution"])
        for c in conflicts
    ] == [
        (2, 1, "created_separate_person"),
        (4, 3, "created_separate_person"),
    ]
    assert conflicts[0]["conflicting_person_id"] == "crm-1"


def test_conflict_without_create_is_skipped_and_recorded(duck):
    duck.run(persons(person(1, "ann@acme.io")))
    duck.run(persons(person(2, "ann@acme.io")), create_new_people=False)
    assert [r["pipedrive_person_id"] for r in duck.rows("people")] == [1]
    [conflict] = duck.rows("identity_conflicts")
    assert conflict["resolution"] == "skipped"


def test_linked_person_is_matched_by_pipedrive_id_even_after_email_change(duck):
    duck.run(persons(person(1, "ann@acme.io")))
    [before] = duck.rows("people")
    duck.run(persons(person(1, "ann.new@acme.io", update_time=ts(1))))
    [after] = duck.rows("people")
    assert after["person_id"] == before["person_id"]
    assert after["email"] == "ann.new@acme.io"


def test_out_of_order_record_never_overwrites(cdp):
    cdp.run(persons(person(1, "ann@acme.io", first_name="New", update_time=ts(1))))
    cdp.run(persons(person(1, "ann@acme.io", first_name="Stale", update_time=ts(2))))
    [row] = cdp.rows("people")
    assert row["first_name"] == "New"
    [snapshot] = cdp.rows("pipedrive_records")
    assert snapshot["record"]["first_name"] == "New"
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert runs[1]["counts"]["persons"]["skipped"] == 1
    assert [a["activity_type"] for a in cdp.rows("activities")] == ["pipedrive.person.created"]


def test_out_of_order_within_one_batch_keeps_the_newest(duck):
    messages = [
        schema("persons"),
        record("persons", person(1, "a@acme.io", first_name="Newest", update_time=ts(1))),
        record("persons", person(1, "a@acme.io", first_name="Older", update_time=ts(3))),
    ]
    duck.run(messages)
    assert duck.rows("people")[0]["first_name"] == "Newest"


def test_organization_id_is_resolved_whatever_the_order(cdp):
    cdp.run(
        [
            *persons(person(1, "a@acme.io", org_id=10)),
            *stream_of("organizations", [organization(10)]),
        ]
    )
    [row] = cdp.rows("people")
    [org] = cdp.rows("organizations")
    assert row["organization_id"] == org["organization_id"]
    assert row["pipedrive_org_id"] == 10


def _csv_person(person_id: str, email: str) -> dict:
    """A person another source (a CSV import) stored, not linked to Pipedrive."""
    return {"person_id": person_id, "email": email, "attributes": {}, "source": "csv"}


def test_stored_emails_match_whatever_their_case_and_spaces(cdp):
    cdp.migrate()
    cdp.insert(
        "people",
        _csv_person("csv-1", "Alice@Example.io"),
        _csv_person("csv-2", " bob@x.io "),
    )
    cdp.run(persons(person(1, "alice@example.io"), person(2, "BOB@x.io ")))
    rows = {r["person_id"]: r["pipedrive_person_id"] for r in cdp.rows("people")}
    assert rows == {"csv-1": 1, "csv-2": 2}  # merged, no duplicates
    assert cdp.rows("identity_conflicts") == []


def test_stored_email_linked_elsewhere_is_a_conflict_whatever_its_case(duck):
    duck.migrate()
    duck.insert(
        "people",
        {"person_id": "crm-1", "email": " Ann@ACME.io", "pipedrive_person_id": 9, "source": "crm"},
    )
    duck.run(persons(person(1, "ann@acme.io")))
    [conflict] = duck.rows("identity_conflicts")
    assert (conflict["conflicting_person_id"], conflict["pipedrive_person_id"]) == ("crm-1", 1)


def test_postgresql_indexes_the_email_as_compared(make_pg_cdp):
    cdp = make_pg_cdp()
    cdp.migrate()
    cdp.execute("drop index {s}.ix_people_email_key")
    cdp.migrate()  # an existing schema gets the index too
    [index] = cdp.query(
        "select indexdef from pg_indexes where schemaname = :s and indexname = :i",
        s=cdp.schema,
        i="ix_people_email_key",
    )
    assert "lower(TRIM(BOTH FROM email))" in index["indexdef"]


def test_api_v1_shaped_persons(cdp):
    """What singer-io tap-pipedrive sends: ``email``/``phone`` lists, ``active_flag``."""
    cdp.migrate()
    cdp.insert(
        "people",
        _csv_person("csv-1", "alice@x.io"),
        _csv_person("csv-2", "bob@x.io"),
    )
    v1 = schema("persons")
    v1["schema"]["properties"] |= {"email": {}, "phone": {}, "emails": {}, "active_flag": {}}
    alice = {k: v for k, v in person(1).items() if k not in ("emails", "phones")}
    alice |= {
        "email": [{"value": "Alice@x.io", "primary": True, "label": "work"}],
        "phone": [{"value": "+49 1", "primary": True}],
        "active_flag": True,
    }
    bob = person(2, emails="bob@x.io")
    gone = {k: v for k, v in person(3).items() if k not in ("emails", "is_deleted")}
    gone |= {"email": [{"value": "gone@x.io", "primary": True}], "active_flag": False}
    cdp.run([v1, *(record("persons", r) for r in (alice, bob, gone))])
    rows = {r["pipedrive_person_id"]: r for r in cdp.rows("people")}
    assert [rows[i]["person_id"] for i in (1, 2)] == ["csv-1", "csv-2"]
    assert (rows[1]["email"], rows[1]["phone"]) == ("alice@x.io", "+49 1")
    assert (rows[3]["email"], rows[3]["is_deleted"]) == ("gone@x.io", True)
    assert rows[3]["deleted_at"] is not None
    assert not any(
        a["activity_type"] == "pipedrive.person.created"
        for a in cdp.rows("activities", where="source_record = 'person:3'")
    )


def test_junk_email_never_clears_a_stored_email(cdp):
    cdp.run(persons(person(1, "ann@acme.io")))
    cdp.run(persons(person(1, "noreply@acme.io", first_name="Ann", update_time=ts(2))))
    [row] = cdp.rows("people")
    assert (row["email"], row["first_name"]) == ("ann@acme.io", "Ann")  # the rest is merged
    cdp.run(persons(person(1, None, update_time=ts(1))))  # no email at all: explicit null
    assert cdp.rows("people")[0]["email"] is None
