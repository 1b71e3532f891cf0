# ruff: noqa: E501 - record shapes read best one field list per line
"""Deterministic Singer messages shaped like tap-pipedrive's output, for target benchmarks.

The stream mix follows a typical Pipedrive account: per 100 records about 5 organizations,
25 persons, 20 deals, 30 activities and 20 notes, with custom fields, several emails and
phones, deals moving through stages, activities done, a few deletions.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

MIX = (("organizations", 5), ("persons", 25), ("deals", 20), ("activities", 30), ("notes", 20))
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

_T = {"type": ["null", "string"], "format": "date-time"}
_S, _I, _B, _N = ({"type": ["null", t]} for t in ("string", "integer", "boolean", "number"))
_ITEMS = {
    "type": ["null", "array"],
    "items": {"type": "object", "properties": {"value": _S, "primary": _B, "label": _S}},
}
_CUSTOM = {"type": ["null", "object"], "properties": {"lead_source": _S, "tier": _S, "budget": _N}}
_BASE = {"id": {"type": "integer"}, "add_time": _T, "update_time": _T, "is_deleted": _B}
SCHEMAS = {
    "organizations": {**_BASE, "name": _S, "owner_id": _I, "address": {"type": ["null", "object"]}, "custom_fields": _CUSTOM},
    "persons": {
        **_BASE, "name": _S, "first_name": _S, "last_name": _S, "owner_id": _I, "org_id": _I,
        "emails": _ITEMS, "phones": _ITEMS, "visible_to": _S,
        "label_ids": {"type": ["null", "array"], "items": {"type": "integer"}},
        "marketing_status": _S, "custom_fields": _CUSTOM,
    },
    "deals": {
        **_BASE, "title": _S, "owner_id": _I, "person_id": _I, "org_id": _I, "pipeline_id": _I,
        "stage_id": _I, "value": _N, "currency": _S, "status": _S, "is_archived": _B,
        "archive_time": _T, "stage_change_time": _T, "won_time": _T, "lost_time": _T,
        "close_time": _T, "lost_reason": _S, "probability": _I, "expected_close_date": _S,
        "custom_fields": _CUSTOM,
    },
    "activities": {
        **_BASE, "subject": _S, "type": _S, "owner_id": _I, "done": _B, "marked_as_done_time": _T,
        "due_date": _S, "due_time": _S, "duration": _S, "deal_id": _I, "person_id": _I,
        "org_id": _I, "participants": {"type": ["null", "array"]},
    },
    "notes": {
        **_BASE, "content": _S, "user_id": _I, "deal_id": _I, "person_id": _I, "org_id": _I,
        "lead_id": _S, "active_flag": _B,
    },
}  # fmt: skip


def _time(rng: random.Random, low_days: int, high_days: int) -> str:
    moment = EPOCH + dt.timedelta(days=rng.uniform(low_days, high_days))
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _record(stream: str, n: int, counts: dict[str, int], rng: random.Random) -> dict:
    """The n-th record of a stream (1-based ids; references point at earlier-numbered ids)."""
    add, update = _time(rng, 0, 600), _time(rng, 600, 700)
    person_ref = rng.randint(1, max(counts["persons"], 1))
    org_ref = rng.randint(1, max(counts["organizations"], 1))
    deal_ref = rng.randint(1, max(counts["deals"], 1))
    base = {"id": n, "add_time": add, "update_time": update, "is_deleted": rng.random() < 0.01}
    custom = {
        "lead_source": rng.choice(["web", "event", "referral", None]),
        "tier": rng.choice(["gold", "silver"]),
        "budget": rng.randint(0, 10**6) / 100,
    }
    if stream == "organizations":
        return base | {
            "name": f"Org {n}",
            "owner_id": rng.randint(1, 20),
            "address": {"city": "Berlin", "country": "DE"},
            "custom_fields": custom,
        }
    if stream == "persons":
        emails = [{"value": f"person{n}@example{n % 97}.io", "primary": True, "label": "work"}]
        if rng.random() < 0.3:
            emails.append({"value": f"p{n}@home.io", "primary": False, "label": "home"})
        return base | {
            "name": f"Person {n}",
            "first_name": "Person",
            "last_name": str(n),
            "owner_id": rng.randint(1, 20),
            "org_id": org_ref if rng.random() < 0.7 else None,
            "emails": emails,
            "phones": [{"value": f"+49 30 {n:07d}", "primary": True, "label": "work"}],
            "visible_to": "3",
            "label_ids": [rng.randint(1, 5)],
            "marketing_status": rng.choice(
                ["subscribed", "unsubscribed", "no_consent", "archived"]
            ),
            "custom_fields": custom,
        }
    if stream == "deals":
        status = rng.choice(["open", "open", "won", "lost"])
        return base | {
            "title": f"Deal {n}",
            "owner_id": rng.randint(1, 20),
            "person_id": person_ref,
            "org_id": org_ref,
            "pipeline_id": 1,
            "stage_id": rng.randint(1, 6),
            "value": rng.randint(100, 100_000),
            "currency": "EUR",
            "status": status,
            "is_archived": False,
            "archive_time": None,
            "stage_change_time": _time(rng, 600, 650),
            "won_time": update if status == "won" else None,
            "lost_time": update if status == "lost" else None,
            "close_time": update if status != "open" else None,
            "lost_reason": "price" if status == "lost" else None,
            "probability": None,
            "expected_close_date": "2026-01-31",
            "custom_fields": custom,
        }
    if stream == "activities":
        done = rng.random() < 0.6
        return base | {
            "subject": f"Call {n}",
            "type": rng.choice(["call", "meeting", "task", "email"]),
            "owner_id": rng.randint(1, 20),
            "done": done,
            "marked_as_done_time": update if done else None,
            "due_date": "2025-12-01",
            "due_time": "10:00",
            "duration": "00:30",
            "deal_id": deal_ref,
            "person_id": person_ref,
            "org_id": org_ref,
            "participants": [{"person_id": person_ref, "primary": True}],
        }
    return base | {
        "content": f"<p>Spoke with the customer about deal {deal_ref}. " + "Notes. " * rng.randint(1, 30) + "</p>",
        "user_id": rng.randint(1, 20), "deal_id": deal_ref, "person_id": person_ref, "org_id": org_ref,
        "lead_id": None, "active_flag": True,
    }  # fmt: skip


def messages(total: int, seed: int = 7) -> Iterator[dict]:
    """SCHEMA messages, then ``total`` RECORD messages stream by stream, then a STATE."""
    rng = random.Random(seed)
    weight = sum(w for _, w in MIX)
    counts = {stream: total * w // weight for stream, w in MIX}
    counts["persons"] += total - sum(counts.values())
    for stream, _ in MIX:
        yield {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": SCHEMAS[stream]},
            "key_properties": ["id"],
        }
        for n in range(1, counts[stream] + 1):
            yield {"type": "RECORD", "stream": stream, "record": _record(stream, n, counts, rng)}
    yield {"type": "STATE", "value": {"bookmarks": {s: {"replication_key_value": "2025-12-01T00:00:00Z"} for s, _ in MIX}}}  # fmt: skip


def write(path: Path, total: int) -> Path:
    """Write the messages to a Singer file (reused when it exists)."""
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as file:
            file.writelines(json.dumps(m, separators=(",", ":")) + "\n" for m in messages(total))
        tmp.rename(path)
    return path
