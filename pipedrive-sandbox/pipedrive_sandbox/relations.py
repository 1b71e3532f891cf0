"""Values of v2 ``include_fields`` extras (counts, next/last activity), computed from the columns.

Grouping indexes (rows of one kind sorted by a link column) are cached per data version, so a
page of 500 persons with ``include_fields=activities_count`` costs 500 binary searches. The
sandbox has no files, products, e-mails or followers beyond the owner, so those counts are
truthfully 0 (followers 1) and mail times null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipedrive_sandbox.catalog import COMPANY_DOMAIN
from pipedrive_sandbox.columns import LOST, OPEN, WON

if TYPE_CHECKING:
    from pipedrive_sandbox.store import Store

_LINK_COLUMN = {"persons": "person", "organizations": "org", "deals": "deal"}
_ALWAYS = {
    "email_messages_count": 0,
    "files_count": 0,
    "products_count": 0,
    "followers_count": 1,
    "last_incoming_mail_time": None,
    "last_outgoing_mail_time": None,
}


def _rows(store: Store, kind: str, column: str, value: int) -> np.ndarray:
    """Row indexes of ``kind`` whose ``column`` equals ``value`` (cached grouping)."""
    cache_key = ("group", kind, column, store.versions[kind])
    cached = store.groups.get(cache_key)
    if cached is None:
        values = store.columns[kind][column]
        order = np.argsort(values, kind="stable")
        cached = (order, values[order])
        store.groups = {k: v for k, v in store.groups.items() if k[:3] != cache_key[:3]}
        store.groups[cache_key] = cached
    order, sorted_values = cached
    lo, hi = np.searchsorted(sorted_values, [value, value + 1])
    return order[lo:hi]


def _deal_counts(store: Store, column: str, record_id: int) -> dict[str, int]:
    rows = _rows(store, "deals", column, record_id)
    d = store.columns["deals"]
    live = rows[~d["deleted"][rows] & ~d["archived"][rows]]
    status = d["status"][live]
    won, lost = int((status == WON).sum()), int((status == LOST).sum())
    return {"open": int((status == OPEN).sum()), "won": won, "lost": lost, "closed": won + lost}


def _activities(store: Store, column: str, record_id: int) -> dict[str, Any]:
    rows = _rows(store, "activities", column, record_id)
    a = store.columns["activities"]
    live = rows[~a["deleted"][rows]]
    done = a["done"][live]
    undone_rows, done_rows = live[~done], live[done]
    next_id = last_id = None
    if len(undone_rows):
        next_id = int(undone_rows[np.argmin(a["due"][undone_rows])]) + 1
    if len(done_rows):
        last_id = int(done_rows[np.argmax(a["due"][done_rows])]) + 1
    return {
        "activities_count": len(live),
        "done_activities_count": int(done.sum()),
        "undone_activities_count": int((~done).sum()),
        "next_activity_id": next_id,
        "last_activity_id": last_id,
    }


def include_field_values(
    store: Store, kind: str, record: dict[str, Any], include: list[str]
) -> dict[str, Any]:
    """The requested extras for one record (fields already in the record are left alone)."""
    wanted = [name for name in include if name not in record or name == "attendees"]
    if not wanted or kind == "activities":
        return {}
    record_id = record["id"]
    column = _LINK_COLUMN[kind]
    values: dict[str, Any] = dict(_ALWAYS)
    values["smart_bcc_email"] = f"{COMPANY_DOMAIN}+{kind[:-1]}{record_id}@pipedrivemail.com"
    values |= _activities(store, column, record_id)
    values["notes_count"] = int(
        (~store.columns["notes"]["deleted"][_rows(store, "notes", column, record_id)]).sum()
    )
    if kind == "deals":
        values["first_won_time"] = record.get("won_time")
        values["participants_count"] = 1 if record.get("person_id") else 0
    else:
        counts = _deal_counts(store, column, record_id)
        for state in ("open", "closed", "won", "lost"):
            values[f"{state}_deals_count"] = counts[state]
            values[f"related_{state}_deals_count"] = counts[state]
            if kind == "persons" and state in ("open", "closed"):
                values[f"participant_{state}_deals_count"] = counts[state]
    if kind == "organizations":
        values["people_count"] = int(
            (~store.columns["persons"]["deleted"][_rows(store, "persons", "org", record_id)]).sum()
        )
    return {name: values[name] for name in wanted if name in values}
