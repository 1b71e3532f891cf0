"""Custom fields written by the readable names and option labels the tap reads.

The reverse of tap-pipedrive's mapping: names come from the tap's own
``assign_readable_names`` over the same field definitions (``GET /api/v2/<kind>Fields``), so
the name a dbt model or a template sees for a field is the name an action writes it by. An
``enum`` value is written as its option label and sent as the option id, a ``set`` as a list of
labels; an unknown name or label is an error listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tap_pipedrive.custom_fields import assign_readable_names

OPTION_TYPES = frozenset({"enum", "set"})


class CustomFieldError(ValueError):
    """A custom field name or option label that Pipedrive does not have."""


@dataclass(frozen=True)
class WritableField:
    """One custom field as an action writes it."""

    name: str
    code: str
    field_type: str
    options: Mapping[str, int]
    """Option label → option id (enum and set fields)."""

    def encode(self, value: Any) -> Any:
        """The API value of a rendered value (labels → option ids)."""
        if value in (None, "", []):
            return None
        if self.field_type == "enum":
            return self._option(str(value))
        if self.field_type == "set":
            labels = value if isinstance(value, list) else str(value).split(",")
            return [self._option(str(label).strip()) for label in labels if str(label).strip()]
        return value

    def _option(self, label: str) -> int:
        if label not in self.options:
            valid = ", ".join(sorted(self.options)) or "none"
            msg = f"custom field '{self.name}' has no option '{label}'; its options: {valid}"
            raise CustomFieldError(msg)
        return self.options[label]


class CustomFieldNames:
    """The custom fields of one kind of object, by readable name."""

    def __init__(self, kind: str, definitions: Iterable[Mapping[str, Any]]) -> None:
        definitions = list(definitions)
        names = assign_readable_names(definitions)
        self.kind = kind
        self.fields: dict[str, WritableField] = {}
        for field in definitions:
            if not field.get("is_custom_field"):
                continue
            code = str(field["field_code"])
            options = {str(o.get("label")): int(o["id"]) for o in field.get("options") or ()}
            name = names[code]
            self.fields[name] = WritableField(name, code, str(field.get("field_type")), options)

    def field(self, name: str) -> WritableField:
        """The field called ``name``; ``CustomFieldError`` listing the valid names."""
        if name not in self.fields:
            valid = ", ".join(sorted(self.fields)) or "none"
            msg = f"{self.kind} has no custom field '{name}'; its custom fields: {valid}"
            raise CustomFieldError(msg)
        return self.fields[name]
