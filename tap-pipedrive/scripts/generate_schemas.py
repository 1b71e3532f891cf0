"""Generate tap_pipedrive/schemas/*.json from Pipedrive's OpenAPI specs.

Run from the repository root after updating spec/pipedrive-openapi/:

    .venv/bin/python tap-pipedrive/scripts/generate_schemas.py

Each stream's schema is the response item schema of the endpoint it reads, with three changes:
every property is nullable (Pipedrive sends null for unset values) except ``id``; timestamps get
``format: date-time`` (the tap converts them to RFC 3339 UTC); and the fields the tap asks for
through ``include_fields`` (or that Pipedrive documents outside the schema, see EXTRA_PROPERTIES)
are added. ``custom_fields`` is left out: the tap builds it at discovery from the field
definitions. tap-pipedrive/tests/test_tap_units.py fails when the committed files differ from
this output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "spec" / "pipedrive-openapi"
OUT_DIR = ROOT / "tap-pipedrive" / "tap_pipedrive" / "schemas"

# stream → (spec file, path) of the list endpoint whose items the stream emits.
SOURCES: dict[str, tuple[str, str]] = {
    "persons": ("v2", "/persons"),
    "organizations": ("v2", "/organizations"),
    "deals": ("v2", "/deals"),
    "activities": ("v2", "/activities"),
    "pipelines": ("v2", "/pipelines"),
    "stages": ("v2", "/stages"),
    "notes": ("v1", "/notes"),
    "leads": ("v1", "/leads"),
    "users": ("v1", "/users"),
    "activity_types": ("v1", "/activityTypes"),
    "person_changelog": ("v1", "/persons/{id}/changelog"),
    "deal_changelog": ("v1", "/deals/{id}/changelog"),
}

DATE_TIME = {"type": "string", "format": "date-time"}

# Properties a stream carries beyond the spec's list-item schema.
EXTRA_PROPERTIES: dict[str, dict[str, dict[str, Any]]] = {
    # include_fields=marketing_status,doi_status (spec v2 GET /persons, include_fields enum).
    # merged_to_id: added by the live mode (webhooks) to the record of a person or organization
    # merged into another, the survivor's id; records from the list endpoints never carry it.
    # unknown_fields: added by the live mode, the fields a webhook cannot carry (unknown, not
    # absent: webhook_records.NOT_CARRIED).
    "persons": {
        "marketing_status": {"type": "string"},
        "doi_status": {"type": "string"},
        "merged_to_id": {"type": "integer"},
        "unknown_fields": {"type": "array", "items": {"type": "string"}},
    },
    "organizations": {"merged_to_id": {"type": "integer"}},
    # include_fields=first_won_time (spec v2 GET /deals); archive_time, creator_user_id and the
    # local_*_date fields are in Pipedrive's v2 deal examples and migration guide.
    "deals": {
        "first_won_time": DATE_TIME,
        "archive_time": DATE_TIME,
        "creator_user_id": {"type": "integer"},
        "local_won_date": {"type": "string", "format": "date"},
        "local_lost_date": {"type": "string", "format": "date"},
        "local_close_date": {"type": "string", "format": "date"},
    },
    # Added by the tap: is_deleted = not active_flag (API v2 naming).
    "notes": {"is_deleted": {"type": "boolean"}},
    # Added by the tap: a key for each change and the object it belongs to.
    "person_changelog": {"id": {"type": "string"}, "person_id": {"type": "integer"}},
    "deal_changelog": {"id": {"type": "string"}, "deal_id": {"type": "integer"}},
}

# Timestamps by name. Not due_time/duration: those are times of day and lengths.
TIMESTAMP_NAMES = {
    "add_time",
    "update_time",
    "stage_change_time",
    "close_time",
    "won_time",
    "lost_time",
    "marked_as_done_time",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
    "created",
    "modified",
    "last_login",
    "time",
}

KEEP_KEYS = ("type", "format", "properties", "items")


def _list_item_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    response = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    schema = response["schema"]
    for part in schema.get("allOf", [schema]):
        data = part.get("properties", {}).get("data")
        if data is not None:
            return data["items"]
    msg = f"No data array in the response of GET {path}"
    raise ValueError(msg)


def _convert(schema: dict[str, Any], name: str | None, *, nullable: bool) -> dict[str, Any]:
    if "allOf" in schema and "properties" not in schema and "type" in schema:
        # a typed value narrowed by allOf (v1 lead visible_to: a string, one of "1", "3"...)
        schema = {key: value for key, value in schema.items() if key != "allOf"}
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(part.get("properties", {}))
        schema = merged
    out = {key: schema[key] for key in KEEP_KEYS if key in schema}
    if name in TIMESTAMP_NAMES:
        out["type"], out["format"] = "string", "date-time"
    if out.get("format") not in {"date-time", "date", "uuid"}:
        out.pop("format", None)
    if "properties" in out:
        out["type"] = "object"
        out["properties"] = {
            key: _convert(value, key, nullable=True) for key, value in out["properties"].items()
        }
    if "items" in out:
        out["items"] = _convert(out["items"], None, nullable=False)
    if nullable and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def build(stream: str, spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The JSON Schema of one stream."""
    item = _list_item_schema(spec, path)
    properties = dict(item["properties"])
    properties.pop("custom_fields", None)
    properties.update(EXTRA_PROPERTIES.get(stream, {}))
    converted = {
        key: _convert(value, key, nullable=key != "id") for key, value in properties.items()
    }
    return {"type": "object", "properties": converted}


def main() -> int:
    """Write every schema file; print the ones that changed."""
    specs = {
        version: yaml.safe_load((SPEC_DIR / f"{version}.yaml").read_text())
        for version in ("v1", "v2")
    }
    OUT_DIR.mkdir(exist_ok=True)
    for stream, (version, path) in SOURCES.items():
        text = json.dumps(build(stream, specs[version], path), indent=2) + "\n"
        target = OUT_DIR / f"{stream}.json"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
