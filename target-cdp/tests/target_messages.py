"""Builders of the Singer messages tap-pipedrive emits (docs/architecture.md), for the tests."""

from __future__ import annotations

import datetime as dt
import io
import json
from contextlib import redirect_stdout
from typing import Any

from target_cdp.target import TargetCDP

NOW = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)


def ts(days_ago: float = 0, *, hours: float = 0) -> str:
    """An RFC 3339 UTC time ``days_ago`` days before now (stable within a test run)."""
    return (NOW - dt.timedelta(days=days_ago, hours=hours)).isoformat().replace("+00:00", "Z")


def _n(kind: str) -> dict:
    return {"type": ["null", kind]}


TIME = {"type": ["null", "string"], "format": "date-time"}
ITEMS = {
    "type": ["null", "array"],
    "items": {
        "type": "object",
        "properties": {"value": _n("string"), "primary": _n("boolean"), "label": _n("string")},
    },
}
BASE = {
    "id": {"type": "integer"},
    "add_time": TIME,
    "update_time": TIME,
    "is_deleted": _n("boolean"),
}
PROPERTIES: dict[str, dict[str, Any]] = {
    "persons": {
        **BASE,
        "name": _n("string"),
        "first_name": _n("string"),
        "last_name": _n("string"),
        "owner_id": _n("integer"),
        "org_id": _n("integer"),
        "emails": ITEMS,
        "phones": ITEMS,
        "visible_to": {"type": ["null", "string", "integer"]},
        "label_ids": {"type": ["null", "array"], "items": {"type": "integer"}},
        "marketing_status": _n("string"),
    },
    "organizations": {
        **BASE,
        "name": _n("string"),
        "owner_id": _n("integer"),
        "address": {"type": ["null", "object"]},
    },
    "deals": {
        **BASE,
        "title": _n("string"),
        "owner_id": _n("integer"),
        "person_id": _n("integer"),
        "org_id": _n("integer"),
        "pipeline_id": _n("integer"),
        "stage_id": _n("integer"),
        "value": _n("number"),
        "currency": _n("string"),
        "status": _n("string"),
        "is_archived": _n("boolean"),
        "archive_time": TIME,
        "stage_change_time": TIME,
        "won_time": TIME,
        "lost_time": TIME,
        "close_time": TIME,
        "lost_reason": _n("string"),
        "probability": _n("integer"),
        "expected_close_date": _n("string"),
    },
    "activities": {
        **BASE,
        "subject": _n("string"),
        "type": _n("string"),
        "owner_id": _n("integer"),
        "done": _n("boolean"),
        "marked_as_done_time": TIME,
        "due_date": _n("string"),
        "due_time": _n("string"),
        "duration": _n("string"),
        "deal_id": _n("integer"),
        "person_id": _n("integer"),
        "org_id": _n("integer"),
        "participants": {"type": ["null", "array"]},
    },
    "notes": {
        **BASE,
        "content": _n("string"),
        "user_id": _n("integer"),
        "deal_id": _n("integer"),
        "person_id": _n("integer"),
        "org_id": _n("integer"),
        "lead_id": _n("string"),
        "active_flag": _n("boolean"),
    },
    "users": {"id": {"type": "integer"}, "name": _n("string"), "email": _n("string")},
    "pipelines": {"id": {"type": "integer"}, "name": _n("string")},
    "stages": {
        "id": {"type": "integer"},
        "name": _n("string"),
        "pipeline_id": _n("integer"),
        "order_nr": _n("integer"),
    },
    "activity_types": {"id": {"type": "integer"}, "name": _n("string"), "key_string": _n("string")},
}
FIELD_PROPERTIES = {
    "field_code": {"type": "string"},
    "field_name": _n("string"),
    "field_type": _n("string"),
    "is_custom_field": _n("boolean"),
    "options": {"type": ["null", "array"]},
    "readable_name": _n("string"),
}


def schema(stream: str, custom_fields: tuple[str, ...] = ()) -> dict:
    """The SCHEMA message of a stream (custom fields as the tap declares them)."""
    if stream.endswith("_fields"):
        return {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": FIELD_PROPERTIES},
            "key_properties": ["field_code"],
        }
    properties = dict(PROPERTIES.get(stream, {"id": {"type": "integer"}, "value": _n("string")}))
    if stream in ("persons", "organizations", "deals"):
        properties["custom_fields"] = {
            "type": ["null", "object"],
            "properties": {name: {} for name in custom_fields},
        }
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": ["id"],
    }


def record(stream: str, data: dict, version: int | None = None) -> dict:
    """A RECORD message."""
    message = {"type": "RECORD", "stream": stream, "record": data}
    if version is not None:
        message["version"] = version
    return message


def state(value: dict) -> dict:
    """A STATE message."""
    return {"type": "STATE", "value": value}


def activate(stream: str, version: int) -> dict:
    """An ACTIVATE_VERSION message."""
    return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}


def person(pid: int, email: str | None = None, **fields: Any) -> dict:
    """A persons record (``email`` becomes the primary of ``emails``)."""
    data = {
        "id": pid,
        "name": f"Person {pid}",
        "first_name": "Person",
        "last_name": str(pid),
        "owner_id": 1,
        "org_id": None,
        "add_time": ts(30),
        "update_time": ts(10),
        "emails": [{"value": email, "primary": True, "label": "work"}] if email else [],
        "phones": [],
        "is_deleted": False,
        "visible_to": "3",
        "label_ids": [],
        "marketing_status": "no_consent",
    }
    data.update(fields)
    return data


def organization(oid: int, **fields: Any) -> dict:
    """An organizations record."""
    data = {
        "id": oid,
        "name": f"Org {oid}",
        "owner_id": 1,
        "add_time": ts(40),
        "update_time": ts(20),
        "is_deleted": False,
        "address": {"country": "DE"},
    }
    data.update(fields)
    return data


def deal(did: int, person_id: int | None = None, org_id: int | None = None, **fields: Any) -> dict:
    """A deals record (open, in stage 1)."""
    data = {
        "id": did,
        "title": f"Deal {did}",
        "owner_id": 1,
        "person_id": person_id,
        "org_id": org_id,
        "pipeline_id": 1,
        "stage_id": 1,
        "value": 1000,
        "currency": "EUR",
        "status": "open",
        "is_deleted": False,
        "is_archived": False,
        "archive_time": None,
        "add_time": ts(20),
        "update_time": ts(5),
        "stage_change_time": None,
        "won_time": None,
        "lost_time": None,
        "close_time": None,
        "lost_reason": None,
        "probability": None,
        "expected_close_date": None,
    }
    data.update(fields)
    return data


def note(nid: int, **fields: Any) -> dict:
    """A notes record."""
    data = {
        "id": nid,
        "content": f"Note {nid}",
        "user_id": 1,
        "deal_id": None,
        "person_id": None,
        "org_id": None,
        "lead_id": None,
        "add_time": ts(3),
        "update_time": ts(3),
        "active_flag": True,
        "is_deleted": False,
    }
    data.update(fields)
    return data


def pd_activity(aid: int, **fields: Any) -> dict:
    """An activities record (a call, not done)."""
    data = {
        "id": aid,
        "subject": f"Call {aid}",
        "type": "call",
        "owner_id": 1,
        "done": False,
        "marked_as_done_time": None,
        "due_date": "2026-01-01",
        "due_time": None,
        "duration": None,
        "deal_id": None,
        "person_id": None,
        "org_id": None,
        "add_time": ts(4),
        "update_time": ts(4),
        "is_deleted": False,
        "participants": [],
    }
    data.update(fields)
    return data


def stream_of(
    stream: str,
    records: list[dict],
    *,
    custom_fields: tuple[str, ...] = (),
    version: int | None = None,
) -> list[dict]:
    """A SCHEMA message followed by RECORD messages."""
    return [schema(stream, custom_fields), *(record(stream, r, version) for r in records)]


def lines(messages: list[dict]) -> str:
    """Messages as Singer JSON lines."""
    return "".join(json.dumps(m) + "\n" for m in messages)


def run_target(config: dict, messages: list[dict]) -> list[dict]:
    """Run target-cdp in-process on the messages; return the STATE values it emitted."""
    out = io.StringIO()
    with redirect_stdout(out):
        TargetCDP(config=config).listen(io.StringIO(lines(messages)))
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


VERSION = int(NOW.timestamp() * 1000)


def everything() -> list[dict]:
    """Input touching every table: catalogs, fields, all object streams, rejects, deletes."""
    return [
        *stream_of("users", [{"id": 1, "name": "Owner", "email": "o@acme.io"}]),
        *stream_of("pipelines", [{"id": 1, "name": "Sales"}]),
        *stream_of(
            "stages", [{"id": s, "name": f"S{s}", "pipeline_id": 1, "order_nr": s} for s in (1, 2)]
        ),
        *stream_of("activity_types", [{"id": 1, "name": "Call", "key_string": "call"}]),
        schema("person_fields"),
        record(
            "person_fields",
            {
                "field_code": "abc123",
                "field_name": "Tier",
                "field_type": "enum",
                "is_custom_field": True,
                "options": [{"id": 1, "label": "gold"}],
                "readable_name": "tier",
            },
        ),
        *stream_of("organizations", [organization(10), organization(11, is_deleted=True)]),
        schema("persons", ("tier",)),
        *(
            record(
                "persons",
                person(i, f"p{i}@acme.io", org_id=10, custom_fields={"tier": "gold"}),
                VERSION,
            )
            for i in range(1, 6)
        ),
        record("persons", person(6, "p1@ACME.io", first_name="Dup")),
        record("persons", {**person(7, "x@acme.io"), "id": "bad"}),
        activate("persons", VERSION),
        *stream_of(
            "deals",
            [
                deal(
                    100,
                    person_id=1,
                    org_id=10,
                    status="won",
                    won_time=ts(3),
                    stage_change_time=ts(4),
                    stage_id=2,
                ),
                deal(101, person_id=2, status="lost", lost_time=ts(2), lost_reason="price"),
                deal(102, person_id=9, status="deleted"),
                deal(103, person_id=3, add_time=ts(300), update_time=ts(200)),
            ],
        ),
        *stream_of(
            "notes", [note(1, person_id=1, deal_id=100), note(2, org_id=10, active_flag=False)]
        ),
        *stream_of(
            "activities", [pd_activity(1, person_id=2, done=True, marked_as_done_time=ts(1))]
        ),
        *stream_of("leads", [{"id": 1, "value": "?"}]),
        state({"bookmarks": {"persons": {"replication_key_value": ts(0)}}}),
    ]
