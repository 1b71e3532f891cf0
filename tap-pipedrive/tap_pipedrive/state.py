"""Checking the state a run resumes from before anything reads it.

The SDK takes any JSON as state and fails deep inside a sync when it is not shaped like one (an
``AttributeError`` on a list, a ``TypeError`` on a bookmark that is no object); a state file
that is not JSON fails as a ``JSONDecodeError`` traceback. Both mean the state was edited or
damaged, and the user needs to know which state and what is wrong with it, in one line. The
shape is a JSON Schema (checked by ``jsonschema``, as the settings are) covering this tap's keys
and every key the SDK itself reads from a bookmark (a wrong type there fails inside the SDK);
the bookmark times, which a schema cannot parse, are checked with the tap's own timestamp
parser, and partitions with the same context (which the SDK refuses mid-sync) are named.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft7Validator

from tap_pipedrive.errors import InvalidStateError
from tap_pipedrive.timestamps import to_rfc3339

_BOOKMARK = {
    # what the SDK reads and writes (singer_sdk/helpers/_state.py): the bookmark, the markers of
    # an unsorted stream, and the run's starting value and signpost (compared with records' times)
    "replication_key": {"type": "string"},
    "replication_key_value": {"type": ["string", "null"]},
    "progress_markers": {
        "type": "object",
        "properties": {
            "Note": {"type": "string"},
            "replication_key": {"type": "string"},
            "replication_key_value": {"type": ["string", "null"]},
        },
    },
    "replication_key_signpost": {"type": ["string", "null"]},
    "starting_replication_value": {"type": ["string", "null"]},
    "table_version": {"type": ["integer", "null"]},
    "last_reconciled_at": {"type": ["string", "null"]},
    # the live mode: the last spooled event handed on; the field definitions the target has
    "spool_position": {"type": "integer", "minimum": 0},
    "definitions_fetched_at": {"type": ["string", "null"]},
    "reconciliation": {
        "type": "object",
        "properties": {
            "version": {"type": "integer"},
            "started_at": {"type": "string"},
            "changes_since": {"type": ["string", "null"]},
        },
        "required": ["version"],
    },
}
STATE_JSONSCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "bookmarks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    **_BOOKMARK,
                    "partitions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"context": {"type": "object"}, **_BOOKMARK},
                            "required": ["context"],
                        },
                    },
                },
            },
        }
    },
}
# Where a bookmark holds a time (a key, or a key of a nested object).
_TIMES = (
    ("replication_key_value",),
    ("replication_key_signpost",),
    ("starting_replication_value",),
    ("progress_markers", "replication_key_value"),
    ("last_reconciled_at",),
    ("reconciliation", "started_at"),
    ("reconciliation", "changes_since"),
)
ADVICE = "fix it, or run without it to read everything again"


def read_state(text: str, source: str) -> dict[str, Any]:
    """The state in ``text`` (from ``source``, e.g. ``the state file state.json``), checked.

    Raises:
        InvalidStateError: one line naming ``source`` and what is wrong.
    """
    if not text.strip():
        msg = f"{source} is empty; {ADVICE}"
        raise InvalidStateError(msg)
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{source} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); {ADVICE}"
        raise InvalidStateError(msg) from None
    check_state(state, source)
    return state


def check_state(state: Any, source: str = "the state") -> None:
    """Refuse a state that is not shaped like a Singer state of this tap.

    Raises:
        InvalidStateError: one line naming ``source`` and every problem.
    """
    problems = [
        f"{'.'.join(str(part) for part in error.absolute_path) or 'the state'}: {error.message}"
        for error in Draft7Validator(STATE_JSONSCHEMA).iter_errors(state)
    ]
    if not problems:
        problems = _time_problems(state) + _duplicate_partitions(state)
    if problems:
        msg = f"{source} is not a usable tap-pipedrive state ({'; '.join(problems)}); {ADVICE}"
        raise InvalidStateError(msg)


def _time_problems(state: dict[str, Any]) -> list[str]:
    problems = []
    for stream, stream_state in state.get("bookmarks", {}).items():
        partitions = stream_state.get("partitions", [])
        places = [(f"bookmarks.{stream}", stream_state)]
        places += [(f"bookmarks.{stream}.partitions.{i}", p) for i, p in enumerate(partitions)]
        for place, bookmark in places:
            for path in _TIMES:
                value: Any = bookmark
                for key in path:
                    value = value.get(key) if isinstance(value, dict) else None
                if value is not None and to_rfc3339(value) is None:
                    problems.append(f"{place}.{'.'.join(path)}: {value!r} is not a date-time")
    return problems


def _duplicate_partitions(state: dict[str, Any]) -> list[str]:
    """Partitions with the same context (the SDK refuses them in the middle of the sync)."""
    problems = []
    for stream, stream_state in state.get("bookmarks", {}).items():
        contexts = [p["context"] for p in stream_state.get("partitions", [])]
        problems += [
            f"bookmarks.{stream}.partitions.{i}: context {context!r} appears twice"
            for i, context in enumerate(contexts)
            if context in contexts[:i]
        ]
    return problems
