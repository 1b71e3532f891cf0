"""Webhook v2 events as the raw rows the tap's streams shape into records.

A webhook's ``data`` is not the API v2 shape (notes on the Pipedrive API, sections 8 and 10):
``visible_to`` is a string (``"3"``), activities say ``busy_flag`` and ``active_flag`` where v2
says ``busy`` and ``is_deleted``, a person may carry v1's ``label`` for v2's ``label_ids``
(``V2_NAMES``), and custom fields arrive as typed wrappers
(``{"type": "enum", "id": 17}``, ``{"type": "set", "values": [{"id": 13}]}``,
``{"type": "daterange", "from": ..., "until": ...}``). This module turns an event into the row
an API list would have returned; the stream then shapes it with the same code as its list
records (:meth:`tap_pipedrive.records.ShapedRecords.post_process`, the custom-field
converters), so a record from a webhook and one from a list are the same record.

* ``create``/``change``: ``data`` (the object's current state; without an ``update_time``, the
  event's ``meta.timestamp`` stands in).
* ``delete``: ``previous`` (its last state) marked deleted (``is_deleted``, ``active_flag``
  false; a deal's ``status`` ``deleted``), with ``update_time`` the deletion time
  (``meta.timestamp``) so an older event delivered late cannot undo it. A merge is a delete
  carrying ``meta.merged_to_id``: the row also gets ``merged_to_id``, the survivor's id.

A webhook never carries some fields a list record has (``NOT_CARRIED``: a person's
``marketing_status`` and ``doi_status``, which the lists give only through ``include_fields``).
The row names them in ``unknown_fields``: their value is unknown here, which is not the same as
absent (an account without the marketing app has no status at all), so a reader keeps what it
knew and decides nothing from the absence (target-cdp defers a new person's email permission).

Events of one object collapse to the newest by ``update_time`` (the later position wins a
tie): Pipedrive does not promise delivery order and retries a delivery up to 150 s later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tap_pipedrive.timestamps import to_rfc3339

if TYPE_CHECKING:  # the spool reader imports SQLAlchemy, which only a live sync needs
    from tap_pipedrive.spool_reader import SpooledEvent

# The webhook ``meta.entity`` of each stream the live mode applies.
ENTITY_OF_STREAM = {
    "persons": "person",
    "organizations": "organization",
    "deals": "deal",
    "activities": "activity",
    "notes": "note",
}
# Fields of each entity that list records carry and webhooks never do; a row names those it
# lacks in UNKNOWN_FIELDS.
NOT_CARRIED = {"person": ("doi_status", "marketing_status")}
UNKNOWN_FIELDS = "unknown_fields"
# Where a stream's state keeps the position of the last spooled event it handed on.
SPOOL_POSITION = "spool_position"
# v1 names a webhook may still use, by entity, and their API v2 names (Pipedrive's migration
# guide; activities' busy_flag is in its webhook examples). Applied only where the v2 name is
# absent; notes are not renamed (their records keep v1's names).
V2_NAMES = {
    "person": {"label": "label_ids"},
    "organization": {"label": "label_ids"},
    "deal": {"user_id": "owner_id", "label": "label_ids", "deleted": "is_deleted"},
    "activity": {
        "busy_flag": "busy",
        "user_id": "owner_id",
        "created_by_user_id": "creator_user_id",
    },
}


def unwrap_custom_value(value: Any) -> Any:
    """A webhook custom-field wrapper as the API v2 value the tap's converters read.

    ``{"type": "enum", "id": 17}`` → ``17``; ``{"type": "set", "values": [{"id": 13}]}`` →
    ``[13]``; ``{"type": "double", "value": 978}`` → ``978``; ``{"type": "daterange",
    "from": a, "until": b}`` → ``{"value": a, "until": b}``; other wrappers with more than a
    value (monetary, address, time) → the object without ``type``. A value without a wrapper is
    kept as it is.
    """
    if type(value) is not dict or "type" not in value:
        return value
    parts = {key: item for key, item in value.items() if key != "type"}
    if "from" in parts:
        parts["value"] = parts.pop("from")
    if value["type"] == "set" or "values" in parts:
        items = parts.get("values")
        if items is None:
            return None
        return [item.get("id") if type(item) is dict else item for item in items]
    if set(parts) <= {"id"}:
        return parts.get("id")
    if set(parts) <= {"value"}:
        return parts.get("value")
    return parts


def custom_field_codes(event: SpooledEvent) -> set[str]:
    """The custom field codes an event's object carries."""
    raw = _state_of(event).get("custom_fields")
    return set(raw) if type(raw) is dict else set()


def _state_of(event: SpooledEvent) -> dict[str, Any]:
    payload = event.payload
    state = payload.get("previous") if event.action == "delete" else payload.get("data")
    return state if type(state) is dict else {}


def _integer_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _label_ids(value: Any) -> list[int]:
    """v1's ``label`` (an id, ``"2,3"``, or a list) as v2's ``label_ids``."""
    if value is None or value == "":
        return []
    items = value.split(",") if type(value) is str else value
    items = items if type(items) is list else [items]
    return [number for number in map(_integer_id, items) if number is not None]


def api_row(event: SpooledEvent, integer_keys: Iterable[str]) -> dict[str, Any] | None:
    """The row an API list would return for the event's object; None for an event that
    carries no object (an action the tap does not apply, or no id)."""
    if event.action not in ("create", "change", "delete"):
        return None
    row = dict(_state_of(event))
    for old, new in V2_NAMES.get(event.entity, {}).items():
        if old in row and new not in row:
            value = row.pop(old)
            row[new] = _label_ids(value) if new == "label_ids" else value
    row["id"] = _integer_id(row.get("id", event.entity_id))
    if row["id"] is None:
        return None
    for key in integer_keys:
        value = row.get(key)
        if type(value) is str:
            row[key] = _integer_id(value)
    if "active_flag" in row and "is_deleted" not in row:
        row["is_deleted"] = not row["active_flag"]
    custom = row.get("custom_fields")
    if type(custom) is dict:
        row["custom_fields"] = {code: unwrap_custom_value(v) for code, v in custom.items()}
    unknown = [name for name in NOT_CARRIED.get(event.entity, ()) if name not in row]
    if unknown:
        row[UNKNOWN_FIELDS] = unknown
    if event.action == "delete":
        _mark_deleted(row, event)
    elif row.get("update_time") is None:  # the object's state as of the event
        row["update_time"] = to_rfc3339((event.payload.get("meta") or {}).get("timestamp"))
    return row


def _mark_deleted(row: dict[str, Any], event: SpooledEvent) -> None:
    meta = event.payload.get("meta") or {}
    times = [to_rfc3339(row.get("update_time")), to_rfc3339(meta.get("timestamp"))]
    row["update_time"] = max((t for t in times if t), default=None)
    row["is_deleted"] = True
    row["active_flag"] = False
    if event.entity == "deal":
        row["status"] = "deleted"
    merged_to = _integer_id(meta.get("merged_to_id"))
    if merged_to is not None:
        row["merged_to_id"] = merged_to


def newest_rows(
    events: Iterable[SpooledEvent], integer_keys: Iterable[str]
) -> list[dict[str, Any]]:
    """The newest row of each object (by ``update_time``, then position), sorted by
    ``(update_time, id)``."""
    keys = tuple(integer_keys)
    newest: dict[int, tuple[str, int, dict[str, Any]]] = {}
    for event in events:
        row = api_row(event, keys)
        if row is None:
            continue
        when = to_rfc3339(row.get("update_time")) or ""
        held = newest.get(row["id"])
        if held is None or (when, event.seq) >= held[:2]:
            newest[row["id"]] = (when, event.seq, row)
    rows = sorted(newest.values(), key=lambda item: (item[0], item[2]["id"]))
    return [row for _, _, row in rows]
