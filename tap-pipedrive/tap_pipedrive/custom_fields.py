"""Custom fields: readable names, JSON Schema types and value conversion.

Pipedrive keys custom fields by a random 40-character hash (``field_code``) and returns option
ids for single- and multiple-option fields. The tap turns them into what a person reading the
warehouse expects:

* **Names.** ``field_name`` → ASCII (``anyascii`` transliteration: ``Größe`` → ``grosse``,
  ``Клиент`` → ``klient``) → snake_case. Names that would start with a digit get a ``field_``
  prefix, names with no letters or digits left become ``field``; the base name is capped at 38
  characters so that ``custom_fields__<name>_<suffix>`` (schema flattening) stays within
  PostgreSQL's 63-character identifier limit.
* **Collisions.** Within one entity, the first field in the API's order keeps the plain name and
  each later field with the same name gets ``_<first 8 characters of its field_code>``. Pipedrive
  lists fields in creation order and appends new ones, so an existing field keeps its name when
  a namesake is added later. The suffix comes from the field's own hash, so it never depends on
  how many namesakes exist.
* **Values.** ``enum`` → the option label; ``set`` → a list of labels; an option id that is not
  (or no longer) among the field's options is kept as its id in text form (``"17"``) so the value
  is not lost and can be traced; ``monetary``, ``daterange``, ``time``, ``timerange`` and
  ``address`` → objects with their documented keys; numbers stay numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from anyascii import anyascii

MAX_BASE_LENGTH = 38
SUFFIX_LENGTH = 8

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_HEX40 = re.compile(r"[0-9a-f]{40}")

ADDRESS_KEYS = (
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "subpremise",
    "postal_code",
    "formatted_address",
)
MONETARY_KEYS = ("value", "currency")
DATERANGE_KEYS = ("value", "until")
TIME_KEYS = ("value", "timezone_id", "timezone_name")
TIMERANGE_KEYS = ("value", "until", "timezone_id", "timezone_name")

_ID_TYPES = frozenset({"deal", "org", "people", "project", "stage", "user", "activity", "int"})
_STRING_TYPES = frozenset(
    {"varchar", "varchar_auto", "varchar_options", "text", "phone", "status", "lead"}
)

Converter = Callable[[Any], Any]


def snake_case(name: str) -> str:
    """Turn a field's display name into a lowercase ASCII snake_case identifier."""
    text = _NON_ALNUM.sub("_", anyascii(name or "").lower()).strip("_")
    if not text:
        return "field"
    if text[0].isdigit():
        text = f"field_{text}"
    return text[:MAX_BASE_LENGTH].rstrip("_")


def _suffix(field_code: str) -> str:
    code = field_code.lower()
    if _HEX40.fullmatch(code):
        return code
    return hashlib.sha1(field_code.encode(), usedforsecurity=False).hexdigest()


def assign_readable_names(fields: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Map each field's ``field_code`` to the key used for it in records.

    Built-in fields keep their ``field_code`` (it is already the record key). Custom fields get
    a snake_case name from ``field_name``; see the module docstring for collisions.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for field in fields:
        code = str(field["field_code"])
        if not field.get("is_custom_field"):
            names[code] = code
            continue
        base = snake_case(str(field.get("field_name") or ""))
        candidate = base
        digest = _suffix(code)
        length = SUFFIX_LENGTH
        while candidate in taken:
            candidate = f"{base}_{digest[:length]}"
            length += 4
        taken.add(candidate)
        names[code] = candidate
    return names


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema["type"]
    schema["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
    return schema


def _object_schema(keys: Iterable[str], types: Mapping[str, dict] | None = None) -> dict:
    types = types or {}
    return {
        "type": ["object", "null"],
        "properties": {key: _nullable(dict(types.get(key, {"type": "string"}))) for key in keys},
    }


ANY_JSON: dict[str, Any] = {
    "type": ["string", "number", "integer", "boolean", "object", "array", "null"]
}


def json_schema_for(field_type: str) -> dict[str, Any]:
    """JSON Schema of a converted custom-field value of ``field_type`` (always nullable)."""
    schemas: dict[str, dict[str, Any]] = {
        "double": {"type": ["number", "null"]},
        "boolean": {"type": ["boolean", "null"]},
        "date": {"type": ["string", "null"], "format": "date"},
        "enum": {"type": ["string", "null"]},
        "set": {"type": ["array", "null"], "items": {"type": "string"}},
        "monetary": _object_schema(MONETARY_KEYS, {"value": {"type": "number"}}),
        "daterange": _object_schema(
            DATERANGE_KEYS,
            {
                "value": {"type": "string", "format": "date"},
                "until": {"type": "string", "format": "date"},
            },
        ),
        "time": _object_schema(TIME_KEYS, {"timezone_id": {"type": "integer"}}),
        "timerange": _object_schema(TIMERANGE_KEYS, {"timezone_id": {"type": "integer"}}),
        "address": _object_schema(ADDRESS_KEYS),
    }
    if field_type in schemas:
        return schemas[field_type]
    if field_type in _ID_TYPES:
        return {"type": ["integer", "null"]}
    if field_type in _STRING_TYPES:
        return {"type": ["string", "null"]}
    return dict(ANY_JSON)


def _option_labels(options: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(option["id"]): str(option.get("label")) for option in options or ()}


def _option_id(value: Any) -> str:
    """An option reference as text: v2 sends ints, v1 strings, include_option_labels objects."""
    if type(value) is dict:
        value = value.get("id")
    return str(value)


def _enum_converter(labels: Mapping[str, str]) -> Converter:
    def convert(value: Any) -> Any:
        if value is None or value == "":
            return None
        key = _option_id(value)
        return labels.get(key, key)

    return convert


def _set_converter(labels: Mapping[str, str]) -> Converter:
    def convert(value: Any) -> Any:
        if value is None or value == "":
            return None
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            items = [items]
        return [labels.get(key, key) for key in map(_option_id, items)]

    return convert


def _object_converter(
    keys: tuple[str, ...], number_keys: frozenset[str] = frozenset()
) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict:
            # A bare value (v1 style) is the object's main value.
            value = {"value": value}
        get = value.get
        out = {key: get(key) for key in keys}
        for key in number_keys:
            out[key] = _to_number(out[key])
        return out

    return convert


def _to_number(value: Any) -> Any:
    kind = type(value)
    if kind is float or kind is int or value is None:
        return value
    if kind is bool:
        return None
    text = str(value)
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def _to_integer(value: Any) -> Any:
    if type(value) is int or value is None:
        return value
    if value == "":
        return None
    if type(value) is dict:  # v1 related objects carry their id as "value"
        value = value.get("value", value.get("id"))
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _to_text(value: Any) -> Any:
    return value if value is None or type(value) is str else str(value)


def _identity(value: Any) -> Any:
    return value


_OBJECT_CONVERTERS: dict[str, Converter] = {
    "monetary": _object_converter(MONETARY_KEYS, frozenset({"value"})),
    "daterange": _object_converter(DATERANGE_KEYS),
    "time": _object_converter(TIME_KEYS),
    "timerange": _object_converter(TIMERANGE_KEYS),
    "address": _object_converter(ADDRESS_KEYS),
    "double": _to_number,
}


def converter_for(field_type: str, options: Iterable[Mapping[str, Any]] | None) -> Converter:
    """Build the function that turns a raw API value of ``field_type`` into its record value."""
    if field_type == "enum":
        return _enum_converter(_option_labels(options))
    if field_type == "set":
        return _set_converter(_option_labels(options))
    if field_type in _OBJECT_CONVERTERS:
        return _OBJECT_CONVERTERS[field_type]
    if field_type in _ID_TYPES:
        return _to_integer
    if field_type in _STRING_TYPES or field_type == "date":
        return _to_text
    return _identity


@dataclass(frozen=True, slots=True)
class CustomFieldSet:
    """The custom fields of one entity, ready to convert record values and describe the schema."""

    converters: Mapping[str, tuple[str, Converter]]
    """``field_code`` → (readable name, converter)."""
    schema: dict[str, Any]
    """JSON Schema of the record's ``custom_fields`` object."""

    @classmethod
    def from_definitions(cls, definitions: Iterable[Mapping[str, Any]]) -> CustomFieldSet:
        """Build from field-definition records that already carry ``readable_name``."""
        converters: dict[str, tuple[str, Converter]] = {}
        properties: dict[str, Any] = {}
        for field in definitions:
            if not field.get("is_custom_field"):
                continue
            name = str(field["readable_name"])
            field_type = str(field.get("field_type") or "")
            converters[str(field["field_code"])] = (
                name,
                converter_for(field_type, field.get("options")),
            )
            properties[name] = json_schema_for(field_type)
        schema = {
            "type": ["object", "null"],
            "properties": properties,
            "additionalProperties": False,
        }
        return cls(converters=converters, schema=schema)

    def convert(self, raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Convert an API ``custom_fields`` object; unknown keys (fields created after discovery)
        are dropped until the next run discovers them."""
        if raw is None:
            return None
        converters = self.converters
        out: dict[str, Any] = {}
        for code, value in raw.items():
            entry = converters.get(code)
            if entry is not None:
                out[entry[0]] = entry[1](value)
        return out


def gather_v1_custom_fields(row: Mapping[str, Any], codes: Iterable[str]) -> dict[str, Any]:
    """A v1 record's custom fields, which it carries as top-level keys: ``{code: raw value}``
    for the converters, ``None`` for a field the record leaves out (leads omit unset ones).

    An object-valued field comes as its main value under the code plus companion keys
    (``<code>_currency``, ``<code>_until``, ``<code>_<address part>``), gathered into
    ``{"value": ..., "currency": ...}``, the shape the object converters read.
    """
    out: dict[str, Any] = {}
    for code in codes:
        if code not in row:
            out[code] = None
            continue
        prefix = f"{code}_"
        parts = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
        out[code] = {"value": row[code], **parts} if parts else row[code]
    return out
