"""The field-merge rules README.md states ("How records are merged": Field merge), one row each.

Pure functions only (``merge.propose``, ``merge.merge_person``): no database, no target.
"""

from __future__ import annotations

from typing import Any

import pytest
from target_cdp.merge import merge_person, propose
from target_cdp.settings import Settings

ORG_IDS = {7: "cdp-org-7"}


def settings(**config: Any) -> Settings:
    return Settings.from_config(config)


def person(attributes: dict | None = None, **columns: Any) -> dict:
    """A CDP person's fields: every column null unless given, attributes {} unless given."""
    return {
        "email": None,
        "first_name": None,
        "last_name": None,
        "phone": None,
        "organization_id": None,
        **columns,
        "attributes": attributes or {},
    }


def record(**fields: Any) -> dict:
    """A Pipedrive person record (API v2 shape) with an id and times, plus ``fields``."""
    return {
        "id": 1,
        "add_time": "2026-03-01T10:00:00Z",
        "update_time": "2026-03-02T10:00:00Z",
        **fields,
    }


# --- What a record proposes ------------------------------------------------------------------

PROPOSALS = [
    pytest.param(
        record(
            emails=[
                {"value": "a@acme.io", "primary": False},
                {"value": "B@Acme.io ", "primary": True},
            ]
        ),
        {
            "email": "b@acme.io",
            ("emails",): [
                {"value": "a@acme.io", "primary": False},
                {"value": "B@Acme.io ", "primary": True},
            ],
        },
        id="email: primary of emails (trimmed, lower-cased)",
    ),
    pytest.param(
        record(emails=[{"value": "a@acme.io"}, {"value": "b@acme.io"}]),
        {"email": "a@acme.io", ("emails",): [{"value": "a@acme.io"}, {"value": "b@acme.io"}]},
        id="email: no primary item, the first",
    ),
    pytest.param(
        record(phones=[{"value": "555 0100"}, {"value": "+1 (555) 0199", "primary": True}]),
        {
            "phone": "+1 (555) 0199",
            ("phones",): [{"value": "555 0100"}, {"value": "+1 (555) 0199", "primary": True}],
        },
        id="phone: primary of phones, as given",
    ),
    pytest.param(
        record(first_name="Ada", last_name="Lovelace"),
        {"first_name": "Ada", "last_name": "Lovelace"},
        id="first_name, last_name",
    ),
    pytest.param(
        record(org_id=7),
        {"organization_id": "cdp-org-7"},
        id="organization_id from org_id",
    ),
    pytest.param(
        record(org_id=8),
        {},
        id="organization_id left out while the organization is not in the CDP",
    ),
    pytest.param(
        record(org_id=None),
        {"organization_id": None},
        id="org_id null: explicit null organization_id",
    ),
    pytest.param(
        record(name="Ada Lovelace", label_ids=[3], marketing_status="subscribed"),
        {("name",): "Ada Lovelace", ("label_ids",): [3], ("marketing_status",): "subscribed"},
        id="attributes.<key> for every other field",
    ),
    pytest.param(
        record(custom_fields={"tier": "gold", "plan.tier": "pro"}),
        {("custom_fields", "tier"): "gold", ("custom_fields", "plan.tier"): "pro"},
        id="custom fields one by one under attributes.custom_fields.<name> (a '.' in a key kept)",
    ),
    pytest.param(
        record(**{"utm.source": "ads"}),
        {("utm.source",): "ads"},
        id="a top-level key holding '.' is one attribute",
    ),
    pytest.param(
        record(),
        {},
        id="proposes values only for the fields it carries",
    ),
    pytest.param(
        {"id": 1, "email": [{"value": "v1@acme.io", "primary": True}], "phone": [{"value": "555"}]},
        {
            "email": "v1@acme.io",
            "phone": "555",
            ("email",): [{"value": "v1@acme.io", "primary": True}],
            ("phone",): [{"value": "555"}],
        },
        id="API v1: without emails/phones, the email/phone lists are used",
    ),
    pytest.param(
        {"id": 1, "emails": [{"value": "v2@acme.io"}], "email": [{"value": "v1@acme.io"}]},
        {
            "email": "v2@acme.io",
            ("emails",): [{"value": "v2@acme.io"}],
            ("email",): [{"value": "v1@acme.io"}],
        },
        id="API v1: emails wins over email when both are there",
    ),
    pytest.param(
        record(emails=" Ada@Acme.io"),
        {"email": "ada@acme.io", ("emails",): " Ada@Acme.io"},
        id="emails given as a plain string is that address",
    ),
    pytest.param(
        {"id": 1, "email": "ada@acme.io"},
        {"email": "ada@acme.io", ("email",): "ada@acme.io"},
        id="email (v1) given as a plain string is that address",
    ),
    pytest.param(
        record(emails=[{"value": "noreply@acme.io", "primary": True}]),
        {("emails",): [{"value": "noreply@acme.io", "primary": True}]},
        id="junk primary email proposes no email (never clears a stored one)",
    ),
    pytest.param(
        record(emails=[{"value": "ada@example.com"}]),
        {("emails",): [{"value": "ada@example.com"}]},
        id="junk domain example.com proposes no email",
    ),
    pytest.param(
        record(emails=[]),
        {"email": None, ("emails",): []},
        id="no email item: explicit null",
    ),
    pytest.param(
        record(emails=[{"value": "  ", "primary": True}]),
        {"email": None, ("emails",): [{"value": "  ", "primary": True}]},
        id="empty email value: explicit null",
    ),
]


@pytest.mark.parametrize(("incoming", "expected"), PROPOSALS)
def test_a_record_proposes(incoming, expected):
    assert propose(incoming, settings().blocked_identifiers, ORG_IDS) == expected


# --- The merge table, writable_fields, protect_existing_values ---------------------------------

FILLED = person(
    {"tier": "bronze", "custom_fields": {"plan.tier": "basic"}},
    email="old@acme.io",
    first_name="Old",
    last_name="Name",
    phone="555",
    organization_id="cdp-org-1",
)
EMPTY = person(email="old@acme.io")

MERGES = [
    # existing person, field has a value
    pytest.param(
        {},
        FILLED,
        {"first_name": "New", ("tier",): "gold"},
        {**FILLED, "first_name": "New", "attributes": {**FILLED["attributes"], "tier": "gold"}},
        id="overwrite_existing: a value is replaced",
    ),
    pytest.param(
        {},
        FILLED,
        {"phone": None, ("tier",): None},
        {**FILLED, "phone": None, "attributes": {"custom_fields": {"plan.tier": "basic"}}},
        id="overwrite_existing: explicit null clears",
    ),
    pytest.param(
        {"merge_strategy": "append_only"},
        FILLED,
        {"first_name": "New", "phone": None, ("tier",): "gold"},
        FILLED,
        id="append_only: a value is kept (a null proposal too)",
    ),
    pytest.param(
        {"merge_strategy": "append_only"},
        person({"score": 0}, email="old@acme.io", first_name=""),
        {"first_name": "Ada", ("score",): 5},
        person({"score": 0}, email="old@acme.io", first_name=""),
        id='append_only: "" and 0 are values',
    ),
    pytest.param(
        {"merge_strategy": "ignore"},
        FILLED,
        {"first_name": "New", "phone": None, ("tier",): "gold"},
        FILLED,
        id="ignore: a value is kept",
    ),
    # existing person, field is null/absent
    pytest.param(
        {},
        EMPTY,
        {"first_name": "Ada", ("custom_fields", "plan.tier"): "pro"},
        person({"custom_fields": {"plan.tier": "pro"}}, email="old@acme.io", first_name="Ada"),
        id="overwrite_existing: a null or absent field is filled",
    ),
    pytest.param(
        {"merge_strategy": "append_only"},
        EMPTY,
        {"first_name": "Ada", ("custom_fields", "plan.tier"): "pro"},
        person({"custom_fields": {"plan.tier": "pro"}}, email="old@acme.io", first_name="Ada"),
        id="append_only: a null or absent field is filled",
    ),
    pytest.param(
        {"merge_strategy": "append_only"},
        EMPTY,
        {"first_name": None, ("tier",): None},
        EMPTY,
        id="append_only: a null proposal is ignored",
    ),
    pytest.param(
        {"merge_strategy": "ignore"},
        EMPTY,
        {"first_name": "Ada", ("tier",): "gold"},
        EMPTY,
        id="ignore: a null field is kept null",
    ),
    # field absent from the record
    *(
        pytest.param(
            {"merge_strategy": strategy},
            FILLED,
            {"first_name": "New"},
            {**FILLED, "first_name": "New" if strategy == "overwrite_existing" else "Old"},
            id=f"{strategy}: a field absent from the record is untouched",
        )
        for strategy in ("overwrite_existing", "append_only", "ignore")
    ),
    # protect_existing_values
    pytest.param(
        {"protect_existing_values": True},
        FILLED,
        {
            "first_name": "New",
            "phone": None,
            ("tier",): "gold",
            ("custom_fields", "plan.tier"): None,
        },
        FILLED,
        id="protect_existing_values: overwrite_existing keeps every value (nulls too)",
    ),
    pytest.param(
        {"protect_existing_values": True},
        EMPTY,
        {"first_name": "Ada", "last_name": None, ("tier",): "gold"},
        person({"tier": "gold"}, email="old@acme.io", first_name="Ada"),
        id="protect_existing_values: fills only what is empty",
    ),
    # writable_fields
    pytest.param(
        {"writable_fields": ["first_name"]},
        FILLED,
        {"email": "new@acme.io", "first_name": "New", "last_name": "Newer", ("tier",): "gold"},
        {**FILLED, "first_name": "New"},
        id="writable_fields: fields outside are never written (email too, once the person exists)",
    ),
    pytest.param(
        {"writable_fields": ["attributes.utm"]},
        EMPTY,
        {("utm",): {"source": "ads"}, ("utm.source",): "ads", ("tier",): "gold"},
        person({"utm": {"source": "ads"}}, email="old@acme.io"),
        id="writable_fields: attributes.<key> allows that whole key, not a key 'utm.source'",
    ),
    pytest.param(
        {"writable_fields": ["attributes.custom_fields.plan.tier"]},
        EMPTY,
        {("custom_fields", "plan.tier"): "pro", ("custom_fields", "plan"): "x", ("tier",): "gold"},
        person({"custom_fields": {"plan.tier": "pro"}}, email="old@acme.io"),
        id="writable_fields: attributes.custom_fields.<name> (a name holding '.')",
    ),
    pytest.param(
        {"writable_fields": ["attributes.custom_fields"]},
        EMPTY,
        {("custom_fields", "a"): 1, ("custom_fields", "b"): 2, ("tier",): "gold", "phone": "5"},
        person({"custom_fields": {"a": 1, "b": 2}}, email="old@acme.io"),
        id="writable_fields: attributes.custom_fields allows every custom field",
    ),
    pytest.param(
        {"writable_fields": ["attributes"]},
        EMPTY,
        {("tier",): "gold", ("custom_fields", "a"): 1, "phone": "5"},
        person({"tier": "gold", "custom_fields": {"a": 1}}, email="old@acme.io"),
        id="writable_fields: attributes allows every attribute",
    ),
    # creation
    pytest.param(
        {},
        None,
        {"email": "a@acme.io", "first_name": "Ada", "phone": None, ("tier",): "gold", ("x",): None},
        person({"tier": "gold"}, email="a@acme.io", first_name="Ada"),
        id="new person: every non-null proposal",
    ),
    pytest.param(
        {"merge_strategy": "ignore"},
        None,
        {"email": "a@acme.io", "first_name": "Ada"},
        person(email="a@acme.io", first_name="Ada"),
        id="ignore: new people are still created",
    ),
    pytest.param(
        {"writable_fields": ["last_name"]},
        None,
        {"email": "a@acme.io", "first_name": "Ada", "last_name": "Lovelace", ("tier",): "gold"},
        person(email="a@acme.io", last_name="Lovelace"),
        id="writable_fields apply on creation too, except email (the merge key)",
    ),
    # attributes addressed by path
    pytest.param(
        {},
        person({"utm": {"medium": "cpc"}}),
        {("utm.source",): "ads", ("custom_fields", "plan.tier"): "pro"},
        person(
            {"utm": {"medium": "cpc"}, "utm.source": "ads", "custom_fields": {"plan.tier": "pro"}}
        ),
        id="a key holding '.' is written as one key, never nested",
    ),
]


@pytest.mark.parametrize(("config", "existing", "proposed", "expected"), MERGES)
def test_merge_person(config, existing, proposed, expected):
    before = repr(existing)
    assert merge_person(existing, proposed, settings(**config)) == expected
    assert repr(existing) == before, "the existing person is not mutated"


ECHOES = [
    pytest.param(
        "overwrite_existing",
        {"first_name": "Pipedrive's", "last_name": "Copy", "phone": None},
        person(email="old@acme.io", first_name="Own", last_name="Copy"),
        id="write-back echo: only fills empty fields whatever merge_strategy",
    ),
]


@pytest.mark.parametrize(("strategy", "proposed", "expected"), ECHOES)
def test_write_back_echo_fills_only(strategy, proposed, expected):
    existing = person(email="old@acme.io", first_name="Own")
    merged = merge_person(existing, proposed, settings(merge_strategy=strategy), fill_only=True)
    assert merged == expected
