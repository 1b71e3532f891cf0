"""Building audience_changes input and running target-pipedrive in-process."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

import sqlalchemy as sa
from pipedrive_sandbox.testing import RunningSandbox
from target_pipedrive.target import TargetPipedrive

ENTERED_AT = "2026-06-01T09:30:00+00:00"

SCHEMA = {
    "type": "SCHEMA",
    "stream": "audience_changes",
    "key_properties": ["change_id"],
    "schema": {
        "type": "object",
        "properties": {
            name: {}
            for name in [
                "change_id",
                "audience",
                "event",
                "member_kind",
                "stint_number",
                "entered_at",
                "exited_at",
                "changed_at",
                "person_id",
                "deal_id",
                "person",
                "deal",
                "row",
            ]
        },
    },
}

ACCEPTANCE_ACTIONS: list[dict[str, Any]] = [
    {
        "name": "slipping-subscribers-into-pipedrive",
        "when": {"audience": "slipping_subscribers", "event": "entered"},
        "upsert": "person",
        "match": {"email": "{{ person.email }}"},
        "fields": {
            "name": "{{ person.first_name }} {{ person.last_name }}",
            "emails": ["{{ person.email }}"],
        },
    },
    {
        "name": "call-slipping-subscribers",
        "when": {"audience": "slipping_subscribers", "event": "entered"},
        "create": "activity",
        "fields": {
            "subject": "Check in with {{ person.first_name | default: 'this subscriber' }}",
            "type": "call",
            "person_id": "{{ person.pipedrive_person_id }}",
            "due_date": "{{ entered_at | date: '%Y-%m-%d' }}",
        },
    },
    {
        "name": "note-repeat-customers",
        "when": {"audience": "repeat_customers", "event": "entered"},
        "create": "note",
        "fields": {
            "content": "Repeat customer: {{ row.won_deals }} won deals",
            "person_id": "{{ person.pipedrive_person_id }}",
        },
    },
    {
        "name": "engaged-deals-to-negotiation",
        "when": {"audience": "engaged_deals", "event": "entered"},
        "update": "deal",
        "match": {"id": "{{ deal.pipedrive_deal_id }}"},
        "fields": {"stage_id": 3},
    },
]


def person(person_id: str, email: str | None, first: str, pipedrive_id: int | None = None) -> dict:
    """A CDP person object as tap-cdp sends it."""
    return {
        "person_id": person_id,
        "email": email,
        "first_name": first,
        "last_name": "Tester",
        "phone": None,
        "organization_id": None,
        "email_permission": True,
        "sms_permission": None,
        "pipedrive_person_id": pipedrive_id,
        "pipedrive_org_id": None,
        "source": "pipedrive" if pipedrive_id else "shop",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        "attributes": {},
    }


def change(
    change_id: str,
    audience: str,
    *,
    who: dict | None = None,
    deal: dict | None = None,
    row: dict | None = None,
    event: str = "entered",
) -> dict:
    """An audience_changes record."""
    return {
        "change_id": change_id,
        "audience": audience,
        "event": event,
        "member_kind": "deal" if deal else "person",
        "stint_number": 1,
        "entered_at": ENTERED_AT,
        "exited_at": None,
        "changed_at": ENTERED_AT,
        "person_id": who["person_id"] if who else None,
        "deal_id": deal["deal_id"] if deal else None,
        "person": who,
        "deal": deal,
        "row": row or {},
    }


def messages(records: list[dict], state: str = "s1") -> str:
    """SCHEMA, the records, one STATE."""
    lines = [
        SCHEMA,
        *({"type": "RECORD", "stream": "audience_changes", "record": r} for r in records),
    ]
    lines.append({"type": "STATE", "value": {"bookmark": state}})
    return "".join(json.dumps(m) + "\n" for m in lines)


def config(sandbox: RunningSandbox, database: dict[str, str], **extra: Any) -> dict[str, Any]:
    """Settings for the sandbox and a ledger."""
    return {
        "api_token": sandbox.api_token,
        "api_url": sandbox.base_url,
        "retry_base_delay": 0.01,
        "actions": ACCEPTANCE_ACTIONS,
        **database,
        **extra,
    }


def run(settings: dict[str, Any], text: str) -> tuple[list[dict], TargetPipedrive]:
    """Run the target in-process; the STATE values it emitted and the target."""
    out = io.StringIO()
    target = TargetPipedrive(config=settings)
    with redirect_stdout(out):
        target.listen(io.StringIO(text))
    lines: list[dict] = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    states = lines  # a target emits the state values it has committed, one a line
    return states, target


def rows(database: dict[str, str], table: str) -> list[dict[str, Any]]:
    """Every row of a ledger table."""
    engine = sa.create_engine(database["database_url"])
    try:
        with engine.connect() as conn:
            schema = f'"{database["schema"]}"'
            if engine.dialect.name == "duckdb":
                catalog = conn.exec_driver_sql("SELECT current_database()").scalar_one()
                schema = f'"{catalog}".{schema}'
            result = conn.exec_driver_sql(f"SELECT * FROM {schema}.{table}")
            return [dict(r) for r in result.mappings()]
    finally:
        engine.dispose()


def writes(sandbox: RunningSandbox) -> dict[str, int]:
    """Requests per operation since the last reset."""
    return {op: v["requests"] for op, v in sandbox.control.stats()["by_operation"].items()}
