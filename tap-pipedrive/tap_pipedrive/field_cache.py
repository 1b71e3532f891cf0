"""The live mode's field definitions, kept on disk between runs.

Applying webhook events must cost no list request, but records need the field definitions
(readable names, option labels) and so does discovery, which Meltano runs before every run of
an editable install and which sees no state. The definitions therefore live in a JSON file
(``field_cache_path``), one entry per field stream with the time it was fetched; a run asks
Pipedrive for a field list only when the file has none for it or when an event names a custom
field the entry does not know. Whether the target already received an entry is the stream's
state (``definitions_fetched_at``), so the definitions reach it exactly once per fetch.

The file is replaced atomically (write a sibling, then rename): a crash leaves the old cache
or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tap_pipedrive.errors import ConfigError


def read_entry(path: str, stream: str) -> dict[str, Any] | None:
    """The cached ``{"fetched_at", "definitions"}`` of one field stream (None: not cached).

    Raises:
        ConfigError: the file exists but is not a cache this tap wrote.
    """
    entry = _read(path).get(stream)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("definitions"), list):
        msg = f"field_cache_path {path}: the entry for {stream} is damaged; delete the file"
        raise ConfigError(msg)
    return entry


def write_entry(path: str, stream: str, definitions: list[dict[str, Any]], fetched_at: str) -> None:
    """Store one field stream's definitions, keeping the other entries."""
    cache = _read(path)
    cache[stream] = {"fetched_at": fetched_at, "definitions": definitions}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w") as out:
        json.dump(cache, out)
    Path(temporary).replace(target)


def _read(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return {}
    try:
        cache = json.loads(text)
    except json.JSONDecodeError:
        cache = None
    if not isinstance(cache, dict):
        msg = f"field_cache_path {path} is not a field definitions cache; delete the file"
        raise ConfigError(msg)
    return cache
