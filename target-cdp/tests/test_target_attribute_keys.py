"""Attribute keys containing `.` are stored as given: never split nor merged into a neighbour."""

from __future__ import annotations

import pytest
from target_messages import deal, organization, person, record, schema, ts

DOTTED = {
    "utm.source": "newsletter",
    "utm": {"medium": "email"},
    "custom_fields": {"plan.tier": "gold", "plan": {"seats": 3}, "a.b.c": 1},
}


def persons(*records: dict) -> list[dict]:
    return [schema("persons"), *(record("persons", r) for r in records)]


@pytest.mark.parametrize("strategy", ["overwrite_existing", "append_only"])
def test_dotted_keys_of_a_new_person_are_stored_as_given(cdp, strategy):
    cdp.run(persons(person(1, "a@acme.io", **DOTTED)), merge_strategy=strategy)
    [row] = cdp.rows("people")
    attributes = row["attributes"]
    assert attributes["utm.source"] == "newsletter"
    assert attributes["utm"] == {"medium": "email"}
    assert attributes["custom_fields"] == DOTTED["custom_fields"]


def test_dotted_keys_of_an_existing_person_are_merged_key_by_key(cdp):
    cdp.run(persons(person(1, "a@acme.io", **DOTTED)))
    update = {
        "utm.source": "ads",
        "custom_fields": {"plan.tier": "silver", "plan": {"seats": 3}, "a.b.c": None},
    }
    cdp.run(persons(person(1, "a@acme.io", update_time=ts(1), **update)))
    [row] = cdp.rows("people")
    attributes = row["attributes"]
    assert attributes["utm.source"] == "ads"
    assert attributes["utm"] == {"medium": "email"}
    assert attributes["custom_fields"] == {"plan.tier": "silver", "plan": {"seats": 3}}


def test_append_only_sees_a_stored_dotted_key(duck):
    duck.run(persons(person(1, "a@acme.io", **DOTTED)))
    update = {"utm.source": "ads", "custom_fields": {"plan.tier": "silver"}}
    duck.run(
        persons(person(1, "a@acme.io", update_time=ts(1), **update)), merge_strategy="append_only"
    )
    [row] = duck.rows("people")
    assert row["attributes"]["utm.source"] == "newsletter"
    assert row["attributes"]["custom_fields"]["plan.tier"] == "gold"
    assert row["attributes"]["custom_fields"]["plan"] == {"seats": 3}


def test_writable_fields_name_dotted_keys_whole(duck):
    duck.run(
        persons(person(1, "a@acme.io", **DOTTED)),
        writable_fields=["email", "attributes.utm", "attributes.custom_fields.plan"],
    )
    [row] = duck.rows("people")
    attributes = row["attributes"]
    assert attributes["utm"] == {"medium": "email"}
    assert "utm.source" not in attributes  # not the key "utm"
    assert attributes["custom_fields"] == {"plan": {"seats": 3}}


def test_dotted_keys_of_organizations_and_deals_are_stored_as_given(cdp):
    cdp.run(
        [
            schema("organizations"),
            record("organizations", organization(10, **{"hq.city": "Berlin"})),
            schema("deals"),
            record("deals", deal(1, **{"source.channel": "web", "source": {"id": 7}})),
        ]
    )
    [org] = cdp.rows("organizations")
    assert org["attributes"]["hq.city"] == "Berlin"
    [stored] = cdp.rows("deals")
    assert stored["attributes"]["source.channel"] == "web"
    assert stored["attributes"]["source"] == {"id": 7}


def updated_changes(cdp, kind: str) -> dict:
    [activity] = cdp.rows("activities", where=f"activity_type = 'pipedrive.{kind}.updated'")
    return activity["attributes"]["changes"]


def dotted_schema(stream: str) -> dict:
    message = schema(stream, custom_fields=("tier", "utm.source", "utm"))
    message["schema"]["properties"]["custom_fields.tier"] = {}
    return message


@pytest.mark.parametrize(("stream", "make"), [("persons", person), ("deals", deal)])
def test_changes_name_a_dotted_key_apart_from_a_nested_one(cdp, stream, make):
    # A top-level key "custom_fields.tier" and the custom field "tier" are two fields; the
    # custom field "utm.source" is not the key "source" of the custom field "utm".
    before = make(
        1,
        **{"custom_fields.tier": "A"},
        custom_fields={"tier": "X", "utm.source": "g", "utm": {"source": "h"}},
    )
    after = make(
        1,
        update_time=ts(1),
        **{"custom_fields.tier": "B"},
        custom_fields={"tier": "X", "utm.source": "g2", "utm": {"source": "h"}},
    )
    cdp.run([dotted_schema(stream), record(stream, before)])
    cdp.run([dotted_schema(stream), record(stream, after)])
    kind = stream.removesuffix("s")
    assert updated_changes(cdp, kind) == {
        '"custom_fields.tier"': {"old": "A", "new": "B"},
        'custom_fields."utm.source"': {"old": "g", "new": "g2"},
    }
    [definition] = cdp.rows(
        "activity_definitions", where=f"activity_type = 'pipedrive.{kind}.updated'"
    )
    names = definition["attribute_names"]
    assert {'"custom_fields.tier"', "custom_fields.tier", 'custom_fields."utm.source"'} <= set(
        names
    )
    assert "custom_fields.utm" in names


def test_a_nested_custom_field_change_is_named_plainly(duck):
    duck.run([dotted_schema("persons"), record("persons", person(1, custom_fields={"tier": "X"}))])
    update = person(1, update_time=ts(1), custom_fields={"tier": "Y", 'say "hi"': 1})
    duck.run([dotted_schema("persons"), record("persons", update)])
    assert updated_changes(duck, "person") == {
        "custom_fields.tier": {"old": "X", "new": "Y"},
        'custom_fields."say \\"hi\\""': {"old": None, "new": 1},
    }
