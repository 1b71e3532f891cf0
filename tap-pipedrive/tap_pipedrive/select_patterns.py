"""Meltano ``select:`` patterns that match nothing in the tap's catalog, said at the end of a run.

Meltano turns ``select:`` into catalog metadata before the tap starts. A typo'd stream
(``persosn.*``) then selects nothing: Meltano logs one warning among the discovery lines and the
run goes on without the stream. Meltano also hands the patterns to the tap
(``MELTANO_EXTRACT__SELECT``: it exports an extractor's extras to the plugin), so the tap repeats
each pattern that matched nothing as the last lines of its run, where they are seen.

Patterns are matched as Meltano matches them: ``[!]stream[.property[.sub...]]``, shell globs
compared case-sensitively, ``\\.`` for a dot inside a stream name; a property pattern names
properties through nested objects.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

SELECT_VARIABLE = "MELTANO_EXTRACT__SELECT"
_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")


def warn_unmatched(logger: logging.Logger, environ: Mapping[str, str], catalog: Any) -> None:
    """Log one warning line per ``select:`` pattern that matches nothing in ``catalog``.

    ``catalog`` is the catalog the tap was given (a Singer ``Catalog``, or None without one: no
    selection to check then). Patterns that are not a JSON list of strings are ignored.
    """
    if catalog is None:
        return
    schemas = {
        entry["tap_stream_id"]: entry.get("schema") or {}
        for entry in catalog.to_dict().get("streams", [])
    }
    for pattern in _patterns(environ.get(SELECT_VARIABLE)):
        problem = unmatched(pattern, schemas)
        if problem:
            logger.warning("select: %r %s; fix it in meltano.yml's select:", pattern, problem)


def unmatched(pattern: str, schemas: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why ``pattern`` matches nothing among the streams ``schemas`` (name -> JSON schema), or
    None when it matches a stream (and, for a property pattern, a property of one)."""
    body = pattern.removeprefix("!")
    stream_pattern, *rest = _UNESCAPED_DOT.split(body, maxsplit=1)
    stream_pattern = stream_pattern.replace("\\.", ".")
    streams = [name for name in schemas if fnmatchcase(name, stream_pattern)]
    if not streams:
        close = difflib.get_close_matches(stream_pattern, list(schemas), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"matches no stream of tap-pipedrive{hint}: it selects nothing"
    if not rest or rest[0] == "*":
        return None
    wanted = ".".join(f"properties.{part}" for part in rest[0].split("."))
    if any(
        fnmatchcase(path, wanted) for name in streams for path in _property_paths(schemas[name])
    ):
        return None
    return f"matches no property of {', '.join(sorted(streams))}"


def _patterns(raw: str | None) -> list[str]:
    try:
        patterns = json.loads(raw) if raw else []
    except ValueError:
        return []
    if not isinstance(patterns, list):
        return []
    return [p for p in patterns if isinstance(p, str)]


def _property_paths(schema: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """``properties.a`` and ``properties.a.properties.b`` for every (nested) property."""
    for name, child in (schema.get("properties") or {}).items():
        path = f"{prefix}properties.{name}"
        yield path
        if isinstance(child, Mapping):
            yield from _property_paths(child, f"{path}.")
