"""Field catalogs: API v2 ``/{entity}Fields``, API v1 ``/activityFields`` and ``/noteFields``.

Built-in fields are listed by hand (code, name, type); custom fields come from
``custom_fields.py``. v2 option ids are strings for built-in fields and integers for custom ones
(spec v2 ``GET /dealFields``: "integer for custom fields, string for built-in fields").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipedrive_sandbox import timefmt

if TYPE_CHECKING:
    from pipedrive_sandbox.custom_fields import CustomField
    from pipedrive_sandbox.store import Store

_VISIBLE_TO = (("1", "Owner & followers"), ("3", "Entire company"))
_MARKETING = (
    ("no_consent", "No consent"),
    ("unsubscribed", "Unsubscribed"),
    ("subscribed", "Subscribed"),
    ("archived", "Archived"),
)
# Rows: field_code, field_name, field_type, options, is_optional_response_field.
_Builtin = tuple[str, str, str, tuple[tuple[str, str], ...], bool]
_BUILTIN: dict[str, tuple[_Builtin, ...]] = {
    "persons": (
        ("id", "ID", "int", (), False),
        ("name", "Name", "varchar", (), False),
        ("first_name", "First name", "varchar", (), False),
        ("last_name", "Last name", "varchar", (), False),
        ("owner_id", "Owner", "user", (), False),
        ("org_id", "Organization", "org", (), False),
        ("emails", "Email", "varchar", (), False),
        ("phones", "Phone", "phone", (), False),
        (
            "label_ids",
            "Labels",
            "set",
            (("1", "Hot lead"), ("2", "Customer"), ("3", "Cold"), ("4", "VIP")),
            False,
        ),
        ("visible_to", "Visible to", "visible_to", _VISIBLE_TO, False),
        ("picture_id", "Profile picture", "picture", (), False),
        ("marketing_status", "Marketing status", "enum", _MARKETING, True),
        ("add_time", "Person created", "date", (), False),
        ("update_time", "Update time", "date", (), False),
    ),
    "organizations": (
        ("id", "ID", "int", (), False),
        ("name", "Name", "varchar", (), False),
        ("owner_id", "Owner", "user", (), False),
        ("address", "Address", "address", (), False),
        (
            "label_ids",
            "Labels",
            "set",
            (("5", "Partner"), ("6", "Customer"), ("7", "Prospect")),
            False,
        ),
        ("website", "Website", "varchar", (), False),
        ("linkedin", "LinkedIn profile", "varchar", (), False),
        ("industry", "Industry", "enum", (), False),
        ("annual_revenue", "Annual revenue", "monetary", (), False),
        ("employee_count", "Number of employees", "int", (), False),
        ("visible_to", "Visible to", "visible_to", _VISIBLE_TO, False),
        ("add_time", "Organization created", "date", (), False),
        ("update_time", "Update time", "date", (), False),
    ),
    "deals": (
        ("id", "ID", "int", (), False),
        ("title", "Title", "varchar", (), False),
        ("value", "Value", "monetary", (), False),
        ("owner_id", "Owner", "user", (), False),
        ("person_id", "Contact person", "people", (), False),
        ("org_id", "Organization", "org", (), False),
        ("pipeline_id", "Pipeline", "double", (), False),
        ("stage_id", "Stage", "stage", (), False),
        (
            "status",
            "Status",
            "status",
            (("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("deleted", "Deleted")),
            False,
        ),
        ("probability", "Probability", "double", (), False),
        ("lost_reason", "Lost reason", "varchar_options", (), False),
        ("expected_close_date", "Expected close date", "date", (), False),
        ("close_time", "Deal closed on", "date", (), False),
        ("won_time", "Won time", "date", (), False),
        ("lost_time", "Lost time", "date", (), False),
        ("stage_change_time", "Last stage change", "date", (), False),
        ("label_ids", "Labels", "set", (), False),
        ("visible_to", "Visible to", "visible_to", _VISIBLE_TO, False),
        ("add_time", "Deal created", "date", (), False),
        ("update_time", "Update time", "date", (), False),
    ),
    "activities": (
        ("id", "ID", "int", (), False),
        ("subject", "Subject", "varchar", (), False),
        ("type", "Type", "varchar_options", (), False),
        ("owner_id", "Assigned to user", "user", (), False),
        ("deal_id", "Deal", "deal", (), False),
        ("person_id", "Contact person", "people", (), False),
        ("org_id", "Organization", "org", (), False),
        ("due_date", "Due date", "date", (), False),
        ("due_time", "Due time", "time", (), False),
        ("duration", "Duration", "time", (), False),
        ("busy", "Free/busy", "enum", (("true", "Busy"), ("false", "Free")), False),
        ("done", "Done", "boolean", (), False),
        ("marked_as_done_time", "Marked as done time", "date", (), False),
        ("location", "Location", "address", (), False),
        ("note", "Note", "text", (), False),
        (
            "priority",
            "Priority",
            "enum",
            (("263", "High"), ("264", "Medium"), ("265", "Low")),
            False,
        ),
        ("add_time", "Add time", "date", (), False),
        ("update_time", "Update time", "date", (), False),
    ),
}
_SUBFIELDS = {
    "monetary": (("value", "Amount", "double"), ("currency", "Currency", "varchar")),
    "address": (
        ("value", "Full address", "varchar"),
        ("country", "Country", "varchar"),
        ("locality", "City/town/village/locality", "varchar"),
        ("postal_code", "ZIP/Postal code", "varchar"),
        ("route", "Street/road name", "varchar"),
        ("street_number", "House number", "varchar"),
    ),
}
_V2_KINDS = {
    "personFields": "persons",
    "organizationFields": "organizations",
    "dealFields": "deals",
    "activityFields": "activities",
}


def entity_of(path_name: str) -> str:
    """``personFields`` -> ``persons``."""
    return _V2_KINDS[path_name]


def _subfields(field_type: str, code: str) -> list[dict[str, str]] | None:
    subs = _SUBFIELDS.get(field_type)
    if subs is None:
        return None
    return [
        {
            "field_code": f"{code}.{sub}" if sub != "value" else code,
            "field_name": name,
            "field_type": kind,
        }
        for sub, name, kind in subs
    ]


def _ui_visibility(kind: str) -> dict[str, Any]:
    ui: dict[str, Any] = {"add_visible_flag": True, "details_visible_flag": True}
    if kind == "deals":
        ui["projects_detail_visible_flag"] = False
        ui["show_in_pipelines"] = {"show_in_all": True, "pipeline_ids": []}
    elif kind == "persons":
        ui["show_in_add_deal_dialog"] = {"show": False, "order": None}
    return ui


def _extras(kind: str, include: set[str]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if "ui_visibility" in include:
        extras["ui_visibility"] = _ui_visibility(kind)
    if kind == "activities":
        return extras
    if "important_fields" in include:
        extras["important_fields"] = {"enabled": False, "stage_ids": []}
    if "required_fields" in include:
        required: dict[str, Any] = {"enabled": False}
        if kind == "deals":
            required |= {"stage_ids": [], "statuses": {}}
        extras["required_fields"] = required
    return extras


def v2_fields(store: Store, kind: str, include: set[str]) -> list[dict[str, Any]]:
    """All field definitions of an entity in v2 shape: built-in first, then custom fields."""
    out = []
    for code, name, field_type, options, optional in _BUILTIN[kind]:
        if code == "marketing_status" and not store.marketing_app:
            continue
        out.append(
            {
                "field_name": name,
                "field_code": code,
                "field_type": field_type,
                "options": [{"id": oid, "label": label} for oid, label in options] or None,
                "subfields": _subfields(field_type, code),
                "is_custom_field": False,
                "is_optional_response_field": optional,
            }
            | _extras(kind, include),
        )
    for cf in store.custom_fields.get(kind, []):
        out.append(_custom_v2(cf) | _extras(kind, include))
    return out


def _custom_v2(cf: CustomField) -> dict[str, Any]:
    stamp = timefmt.v2(cf.add_time)
    options = [
        {"id": oid, "label": label, "color": None, "update_time": stamp, "add_time": stamp}
        for oid, label in cf.options
    ]
    return {
        "field_name": cf.name,
        "field_code": cf.key,
        "field_type": cf.field_type,
        "options": options or None,
        "subfields": _subfields(cf.field_type, cf.key),
        "is_custom_field": True,
        "is_optional_response_field": False,
    }


def v1_fields(store: Store, kind: str) -> list[dict[str, Any]]:
    """The v2 definitions of an entity in v1 shape (``GET /v1/activityFields``): ``key``,
    ``name``, ``edit_flag`` (custom), ``options`` as ``{id, label}``; notes section 4.1."""
    out = []
    for order, field in enumerate(v2_fields(store, kind, set()), 1):
        row: dict[str, Any] = {
            "id": order,
            "key": field["field_code"],
            "name": field["field_name"],
            "order_nr": order,
            "field_type": field["field_type"],
            "active_flag": True,
            "edit_flag": field["is_custom_field"],
            "bulk_edit_allowed": field["is_custom_field"],
            "mandatory_flag": False,
            "options": [{"id": o["id"], "label": o["label"]} for o in field["options"]]
            if field["options"]
            else None,
        }
        if field["subfields"]:
            row["subfields"] = [
                {"key": s["field_code"], "name": s["field_name"], "field_type": s["field_type"]}
                for s in field["subfields"]
            ]
        out.append(row)
    return out


# v1 noteFields: (key, name, field_type, options, edit_flag, mandatory_flag)
_NOTE_FIELDS = (
    ("id", "ID", "int", (), False, False),
    ("content", "Content", "text", (), False, True),
    ("user_id", "User", "user", (), False, False),
    ("deal_id", "Deal", "deal", (), False, False),
    ("person_id", "Person", "people", (), False, False),
    ("org_id", "Organization", "org", (), False, False),
    ("lead_id", "Lead", "lead", (), False, False),
    ("add_time", "Add time", "date", (), False, False),
    ("update_time", "Update time", "date", (), False, False),
    ("pinned_to_deal_flag", "Note is pinned to deal", "enum", ((1, "Yes"), (0, "No")), True, True),
    (
        "pinned_to_person_flag",
        "Note is pinned to person",
        "enum",
        ((1, "Yes"), (0, "No")),
        True,
        True,
    ),
    (
        "pinned_to_organization_flag",
        "Note is pinned to organization",
        "enum",
        ((1, "Yes"), (0, "No")),
        True,
        True,
    ),
)


def v1_note_fields() -> list[dict[str, Any]]:
    """``GET /v1/noteFields`` rows."""
    out = []
    for index, (key, name, field_type, options, edit, mandatory) in enumerate(_NOTE_FIELDS, 1):
        row: dict[str, Any] = {
            "id": index,
            "key": key,
            "name": name,
            "field_type": field_type,
            "active_flag": True,
            "edit_flag": edit,
            "bulk_edit_allowed": edit,
            "mandatory_flag": mandatory,
        }
        if options:
            row["options"] = [{"id": oid, "label": label} for oid, label in options]
        out.append(row)
    return out
