"""Query-parameter validation driven by the spec's parameter tables (``spec_tables.py``).

API v2 validates parameters strictly: a wrong type, an unknown enum value or a malformed date
is a 400 that names the parameter. A parameter the operation does not declare is rejected too
(``unknown_params="reject"``, the default): a client relying on an undeclared parameter relies
on behaviour the spec does not promise. ``unknown_params="ignore"`` imitates a lenient server.
The legacy ``api_token`` parameter is authentication, never validated here.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.errors import BadRequestError
from pipedrive_sandbox.spec_tables import QUERY_PARAMETERS

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
# Parameters whose value is a comma-separated list (each item checked against the enum).
LIST_PARAMS = {"status", "include_fields", "items", "ids", "custom_fields"}
# Time-valued parameters and the format each accepts.
RFC3339_PARAMS = {"updated_since", "updated_until"}
V1_TIME_PARAMS = {"since_timestamp"}
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
AUTH_PARAMS = {"api_token"}


def operation_params(version: str, path: str) -> dict[str, dict[str, Any]]:
    """The declared query parameters of a served GET operation."""
    return QUERY_PARAMETERS[(version, path)]["params"]


def validate(
    version: str, path: str, query: dict[str, list[str]], *, unknown_params: str = "reject"
) -> dict[str, Any]:
    """Convert and check the query string of a GET; returns ``{name: typed value}``."""
    declared = operation_params(version, path)
    values: dict[str, Any] = {}
    for name, raw_values in query.items():
        if name in AUTH_PARAMS:
            continue
        spec = declared.get(name)
        if spec is None:
            if unknown_params == "reject":
                allowed = ", ".join(sorted(declared)) or "none"
                raise BadRequestError(
                    f"Unknown query parameter '{name}'. Allowed parameters: {allowed}"
                )
            continue
        if len(raw_values) != 1:
            raise BadRequestError(f"Parameter '{name}' must be given only once")
        values[name] = _convert(name, raw_values[0], spec)
    for name, spec in declared.items():
        if spec.get("required") and name not in values:
            raise BadRequestError(f"Parameter '{name}' is required")
    return values


def _convert(name: str, raw: str, spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "integer":
        if not _INTEGER.match(raw):
            raise BadRequestError(f"Parameter '{name}' must be an integer (got '{raw}')")
        value: Any = int(raw)
    elif kind == "number":
        if not _NUMBER.match(raw):
            raise BadRequestError(f"Parameter '{name}' must be a number (got '{raw}')")
        value = float(raw) if "." in raw else int(raw)
    elif kind == "boolean":
        if raw not in ("true", "false", "1", "0"):
            raise BadRequestError(
                f"Parameter '{name}' must be a boolean: true or false (got '{raw}')"
            )
        value = raw in ("true", "1")
    elif name in LIST_PARAMS:
        value = _list(name, raw, spec)
    else:
        value = _string(name, raw, spec)
    if "enum" in spec and name not in LIST_PARAMS and value not in spec["enum"]:
        allowed = ", ".join(str(v) for v in spec["enum"])
        raise BadRequestError(f"Parameter '{name}' must be one of: {allowed} (got '{raw}')")
    return value


def _list(name: str, raw: str, spec: dict[str, Any]) -> list[str]:
    items = [item.strip() for item in raw.split(",")]
    if not all(items):
        raise BadRequestError(
            f"Parameter '{name}' must be a comma-separated list without empty items"
        )
    if "enum" in spec:
        allowed = {item for value in spec["enum"] for item in str(value).split(",")}
        for item in items:
            if item not in allowed:
                raise BadRequestError(
                    f"Parameter '{name}' contains an invalid value '{item}'. "
                    f"Allowed values: {', '.join(sorted(allowed))}"
                )
    return items


def _string(name: str, raw: str, spec: dict[str, Any]) -> Any:
    try:
        if name in RFC3339_PARAMS or spec.get("format") == "date-time":
            return timefmt.parse_rfc3339(raw)
        if name in V1_TIME_PARAMS:
            return timefmt.parse_v1(raw)
        if spec.get("format") == "date":
            return timefmt.parse_date(raw)
        if spec.get("format") == "uuid":
            return str(uuid.UUID(raw))
    except ValueError as exc:
        expected = {
            "date": "a date in format YYYY-MM-DD",
            "uuid": "a UUID",
        }.get(spec.get("format", ""), "an RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z")
        if name in V1_TIME_PARAMS:
            expected = "a UTC time in format YYYY-MM-DD HH:MM:SS"
        raise BadRequestError(f"Parameter '{name}' must be {expected} (got '{raw}')") from exc
    return raw


def limit_of(values: dict[str, Any]) -> int:
    """The page size: default 100, at most 500, at least 1."""
    limit = values.get("limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise BadRequestError(
            f"Parameter 'limit' must not be greater than {MAX_LIMIT} (got {limit})"
        )
    if limit < 1:
        raise BadRequestError(f"Parameter 'limit' must be a positive integer (got {limit})")
    return limit


def int_list(name: str, items: list[str], *, maximum: int) -> list[int]:
    """A comma list of ids (``ids``): integers, at most ``maximum`` of them."""
    if len(items) > maximum:
        raise BadRequestError(
            f"Parameter '{name}' accepts at most {maximum} values (got {len(items)})"
        )
    if not all(_INTEGER.match(item) for item in items):
        raise BadRequestError(f"Parameter '{name}' must be a comma-separated list of integers")
    return [int(item) for item in items]
