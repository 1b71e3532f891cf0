"""Merging two persons or two organizations, as Pipedrive's ``PUT /v1/persons/{id}/merge``.

The record ``{id}`` is merged into ``merge_with_id``, "the person that will not be overwritten":
the survivor keeps its values, takes the merged record's values where its own are empty, and
gains the merged record's emails and phones it lacks. Live records pointing at the merged one
(deals, activities and notes; for an organization also persons) are moved to the survivor, each
an ordinary change. Then the merged record is deleted with ``merged_to_id`` and the survivor
changed with ``merged_from_id``: the two webhook events of a merge (PD-MIG item 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipedrive_sandbox.store import Store

MERGEABLE = ("persons", "organizations")
# (dependent kind, its column and field) pointing at a person or an organization.
_DEPENDENTS = {
    "persons": (
        ("deals", "person", "person_id"),
        ("activities", "person", "person_id"),
        ("notes", "person", "person_id"),
    ),
    "organizations": (
        ("persons", "org", "org_id"),
        ("deals", "org", "org_id"),
        ("activities", "org", "org_id"),
        ("notes", "org", "org_id"),
    ),
}
_KEPT = {"id", "add_time", "update_time", "is_deleted", "custom_fields", "emails", "phones"}


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def fill_from(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """The fields the survivor takes from the merged record (its own values win)."""
    fields = {
        name: value
        for name, value in merged.items()
        if name not in _KEPT and not _empty(value) and _empty(survivor.get(name))
    }
    custom = {
        key: value
        for key, value in (merged.get("custom_fields") or {}).items()
        if not _empty(value) and _empty((survivor.get("custom_fields") or {}).get(key))
    }
    if custom:
        fields["custom_fields"] = custom
    for name in ("emails", "phones"):
        if name not in survivor:
            continue
        own = survivor[name] or []
        values = {item["value"] for item in own}
        extra = [
            {**item, "primary": False}
            for item in merged.get(name) or []
            if item["value"] and item["value"] not in values
        ]
        if extra:
            fields[name] = [*own, *extra]
    return fields


def merge(
    store: Store, kind: str, merged_id: int, survivor_id: int, *, source: str
) -> dict[str, Any]:
    """Merge ``merged_id`` into ``survivor_id``; returns the survivor. Callers check both live."""
    with store.lock:
        merged = store.get(kind, merged_id)
        survivor = store.get(kind, survivor_id)
        if merged is None or survivor is None:
            raise KeyError(
                f"no {kind} record with id {merged_id if merged is None else survivor_id}"
            )
        for dependent, column, field in _DEPENDENTS[kind]:
            arrays = store.columns[dependent].arrays
            live = ~arrays["deleted"].astype(bool)
            ids = np.flatnonzero((arrays[column] == merged_id) & live) + 1
            for dependent_id in ids.tolist():
                store.update(dependent, dependent_id, {field: survivor_id}, source=source)
        store.delete(kind, merged_id, source=source, merge={"merged_to_id": survivor_id})
        fields = fill_from(survivor, merged)
        return store.update(
            kind, survivor_id, fields, source=source, merge={"merged_from_id": merged_id}
        ) or dict(survivor)
