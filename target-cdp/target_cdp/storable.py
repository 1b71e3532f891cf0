"""What DuckDB and PostgreSQL can hold, checked on every field of every record.

A Singer record may carry values that the JSON encoder or the databases refuse: text with a
lone surrogate (what invalid UTF-8 input becomes when decoded with ``surrogateescape``),
integers outside 64 bits (``BIGINT`` columns, DuckDB and orjson JSON), ``NaN`` and
``Infinity`` (not JSON at all), nesting deeper than the encoder goes, and records too large
for DuckDB's JSON reader at a small memory limit. One of them used to fail the whole batch
at write time, again on every rerun. ``problem`` finds the first such value and names its
field, so the record is rejected before anything is written; ``escaped`` turns a rejected
record into JSON both databases hold, for ``rejected_records``. NUL characters are not a
problem here: stored text drops them (``records.dumps``), rejected records escape them.
"""

from __future__ import annotations

import decimal
import json
import math
from typing import Any

import orjson

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Containers nested deeper than this are refused (orjson stops at 255; CDP rows add levels).
MAX_DEPTH = 64
#: A record larger than this as JSON is refused: DuckDB's JSON reader needs several times a
#: line's size in memory, and fails on a 5 MB line at the default ``duckdb_memory_limit``.
MAX_RECORD_BYTES = 2_000_000
#: A batch is written once its records reach this size as JSON (or ``batch_size_rows``): a
#: person is staged twice (``people``, ``pipedrive_records``), and eight 2 MB persons in one
#: batch exhausted DuckDB's default memory limit.
MAX_BATCH_BYTES = 4_000_000
#: A rejected record too large as it is keeps this many characters of each longer text.
KEPT_TEXT = 10_000
SHOWN = 100


def json_size(record: dict) -> int | None:
    """Bytes of the record as JSON; None when the encoder refuses it (see ``problem``)."""
    try:
        return len(_json(record))
    except TypeError:  # orjson.JSONEncodeError
        return None


def problem(record: dict, size: int | None) -> str | None:
    """Why the record cannot be stored, naming the first field at fault (None when it can).

    ``size`` is ``json_size(record)``. Fast for the usual record: orjson refuses lone
    surrogates by itself, ``_plain`` looks at numbers and depth only, and the field at fault is
    searched for when one of them finds something.
    """
    if size is None or not _plain(record, 0):
        reason = _check_items(record, "", "", 0)
        if reason:
            return reason
        size = len(_json(record))
    if size <= MAX_RECORD_BYTES:
        return None
    sizes = {key: len(_json(value)) for key, value in record.items()}
    largest = max(sizes, key=sizes.__getitem__)
    return (
        f"{largest} is too large to store: the record is {size:,} bytes as JSON "
        f"({sizes[largest]:,} of them in {largest}), at most {MAX_RECORD_BYTES:,}"
    )


def _plain(container: dict | list, depth: int) -> bool:
    """Whether the numbers and nesting in the container are surely fine (text is not checked)."""
    if depth > MAX_DEPTH:
        return False
    for value in container.values() if type(container) is dict else container:
        kind = type(value)
        if kind is int:
            fine = INT64_MIN <= value <= INT64_MAX
        elif kind is dict or kind is list:
            fine = _plain(value, depth + 1)
        elif kind is float:
            fine = math.isfinite(value)
        elif kind is decimal.Decimal:
            fine = value.is_finite() and math.isfinite(value)
        else:  # anything but text, booleans and null is looked at closely
            fine = kind is str or kind is bool or value is None
        if not fine:
            return False
    return True


def _check_items(container: dict | list, field: str, path: str, depth: int) -> str | None:
    """The first problem among the items of a container at ``path`` within ``field``."""
    if depth > MAX_DEPTH:
        return f"{field} is nested more than {MAX_DEPTH} levels deep"
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, value in items:
        if isinstance(key, str) and not _is_text(key):
            where = f"{path} has a key" if path else "a field name"
            return f"{where} that is not valid UTF-8 text: {shown(key)}"
        child = _child(path, key)
        reason = _check(value, field or child, child, depth + 1)
        if reason:
            return reason
    return None


def _check(value: Any, field: str, path: str, depth: int) -> str | None:
    reason = None
    if isinstance(value, str):
        if not _is_text(value):
            reason = f"{path} is not valid UTF-8 text: {shown(value)}"
    elif isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            reason = f"{path} is outside the 64-bit integer range: {shown(value)}"
    elif isinstance(value, float | decimal.Decimal):
        reason = _check_number(value, path)
    elif isinstance(value, dict | list):
        reason = _check_items(value, field, path, depth)
    return reason


def _check_number(value: float | decimal.Decimal, path: str) -> str | None:
    """Finite numbers a double holds (a decimal integer beyond 64 bits is written as one)."""
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        return f"{path} is not a finite number: {value}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is not a finite number: {value}"
    if not math.isfinite(float(value)):
        return f"{path} is too large a number to store: {shown(value)}"
    return None


def _child(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{_text_of(key)}" if path else _text_of(key)


def _is_text(value: Any) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _text_of(value: Any) -> str:
    """A name as text any database holds (lone surrogates and NUL escaped)."""
    return str(value).encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")


def shown(value: Any) -> str:
    """A value as reasons quote it: its repr (text escaped), cut to ``SHOWN`` characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(text):,} characters)"


def _json(value: Any) -> bytes:
    """The value as JSON, to measure it (any value a stream map may make is written somehow)."""
    return orjson.dumps(value, default=_number, option=orjson.OPT_NON_STR_KEYS)


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, decimal.Decimal) else str(value)


def escaped(record: Any) -> Any:
    """The record as JSON data both databases hold, losing as little as possible.

    Text is kept with lone surrogates and NUL written as ``\\udXXX`` and ``\\u0000``; integers
    outside 64 bits and non-finite numbers become their text; containers nested too deep become
    their JSON text. A record still too large then has each longer text cut to its first
    ``KEPT_TEXT`` characters, marked ``... [cut: N characters in all]``.
    """
    kept = _escape(record, 0, cut=False)
    if len(orjson.dumps(kept)) > MAX_RECORD_BYTES:
        kept = _escape(record, 0, cut=True)
    return kept


def _escape(value: Any, depth: int, *, cut: bool) -> Any:
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        value = _json_text(value)
    if isinstance(value, str):
        text = _text_of(value)
        if cut and len(text) > KEPT_TEXT:
            text = f"{text[:KEPT_TEXT]}... [cut: {len(text)} characters in all]"
        kept: Any = text
    elif isinstance(value, bool) or value is None:
        kept = value
    elif isinstance(value, int):
        kept = value if INT64_MIN <= value <= INT64_MAX else str(value)
    elif isinstance(value, float | decimal.Decimal):
        kept = _escape_number(value)
    elif isinstance(value, list):
        kept = [_escape(v, depth + 1, cut=cut) for v in value]
    elif isinstance(value, dict):
        kept = {_text_of(k): _escape(v, depth + 1, cut=cut) for k, v in value.items()}
    else:
        kept = _text_of(value)
    return kept


def _escape_number(value: float | decimal.Decimal) -> Any:
    """A number as JSON holds it; what JSON has no number for, as its text (``NaN``)."""
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value() and INT64_MIN <= value <= INT64_MAX:
            return int(value)
        return float(value) if math.isfinite(float(value)) else str(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (RecursionError, ValueError):
        return "... [nested too deep to keep]"
