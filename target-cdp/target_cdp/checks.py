"""Record checks: what keeps one record from becoming its stream's rows, in one line.

A stream SCHEMA may leave types open (tap-pipedrive's custom fields do; another tap may send
anything), and a value a typed column cannot hold would fail the whole batch in the database,
or be cast silently (``true`` or ``"1_000"`` as a number). Each function here says what is
wrong with one record, naming the field and the value, or None when nothing is: the sink
rejects that record into ``rejected_records`` and writes the rest of the batch. What no
database can hold at all (NUL characters, integers beyond 64 bits) is ``storable.py``'s check,
made on every record before it is buffered; these are the checks of the CDP's own columns.
"""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from target_cdp.records import parse_time
from target_cdp.storable import shown

if TYPE_CHECKING:
    from collections.abc import Iterable

#: Pipedrive deal times that have columns of their own in ``deals``.
DEAL_TIMES = ("add_time", "update_time", "stage_change_time", "won_time", "lost_time", "close_time")
#: Timestamp fields checked on every Pipedrive object record.
TIME_FIELDS = (*DEAL_TIMES, "archive_time", "marked_as_done_time")
#: Fields holding the id of another Pipedrive object (or of a user, pipeline, stage). API v1
#: sends some as objects (``{"value": 5, "name": "Acme"}``): ``object_problem`` unwraps them.
REFERENCE_FIELDS = (
    "org_id",
    "person_id",
    "deal_id",
    "user_id",
    "owner_id",
    "creator_user_id",
    "pipeline_id",
    "stage_id",
)
#: Numbers at or beyond this do not fit the CDP's numeric columns (``NUMERIC(38, 6)``).
MAX_NUMERIC = 10**31
#: Python types of the JSON types a typed column takes (booleans are not numbers).
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, decimal.Decimal),
    "boolean": (bool,),
}


def object_problem(record: dict, column_types: dict[str, str]) -> str | None:
    """Why a Pipedrive object record cannot be stored (None when it can).

    Checked: an integer ``id``, RFC 3339 times, the fields bound for typed columns
    (``column_types``), references and ``custom_fields``. A reference in the API v1 shape (an
    object with the id as ``value``) is replaced by its id in the record when the record
    passes; any other reference that is not an integer or null (a string too: Pipedrive ids are
    integers, and no guess is made) is a problem.
    """
    pid = record.get("id")
    if not is_id(pid):
        return f"id must be an integer, got {shown(pid)}"
    reason = time_problem(record) or type_problem(record, column_types)
    if reason:
        return reason
    unwrapped: dict[str, int | None] = {}
    for name in REFERENCE_FIELDS:
        value = record.get(name)
        if value is None or type(value) is int:  # the usual case, checked first
            continue
        if isinstance(value, dict) and "value" in value:
            value = unwrapped[name] = value["value"]
        if value is not None and not is_id(value):
            return f"{name} must be an integer id or null, got {json_kind(value)}: {shown(value)}"
    custom = record.get("custom_fields")
    if custom is not None and not isinstance(custom, dict):
        return f"custom_fields must be an object or null, got {json_kind(custom)}: {shown(custom)}"
    record.update(unwrapped)
    return None


def time_problem(record: dict, names: Iterable[str] = TIME_FIELDS) -> str | None:
    """Why one of these fields is not a time the CDP can hold (None when all are)."""
    for name in names:
        value = record.get(name)
        if value is None:
            continue
        try:
            parse_time(value)
        except OverflowError:
            return f"{name} is out of range once in UTC (years 1 to 9999): {shown(value)}"
        except (TypeError, ValueError):
            return f"{name} is not an RFC 3339 timestamp: {shown(value)}"
    return None


def number_problem(record: dict, name: str) -> str | None:
    """Why a number is beyond the CDP's numeric columns (its type is checked first)."""
    value = record.get(name)
    if value is not None and abs(value) >= MAX_NUMERIC:
        return f"{name} is out of range: {shown(value)}"
    return None


def type_problem(record: dict, types: dict[str, str]) -> str | None:
    """Why a field bound for a typed column has another JSON type (None when all fit).

    ``types``: field -> JSON type (``column_json_types``). Null is always allowed.
    """
    for name, json_type in types.items():
        value = record.get(name)
        if value is None:
            continue
        fits = isinstance(value, JSON_TYPES[json_type])
        if fits and json_type != "boolean" and isinstance(value, bool):
            fits = False
        if not fits:
            article = "an" if json_type == "integer" else "a"
            return (
                f"{name} must be {article} {json_type} or null, got {json_kind(value)}: "
                f"{shown(value)}"
            )
    return None


def column_json_types(table: sa.Table, names: Iterable[str]) -> dict[str, str]:
    """The JSON type each of these columns takes (JSON columns take anything)."""
    types = {}
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, sa.Boolean):
            types[name] = "boolean"
        elif isinstance(column_type, sa.Integer):
            types[name] = "integer"
        elif isinstance(column_type, sa.String):
            types[name] = "string"
    return types


def is_id(value: Any) -> bool:
    """A Pipedrive id: an integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def json_kind(value: Any) -> str:
    """The JSON type name of a value, for rejection reasons."""
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        decimal.Decimal: "number",
        str: "string",
        list: "array",
    }
    return "object" if isinstance(value, dict) else names.get(type(value), type(value).__name__)
