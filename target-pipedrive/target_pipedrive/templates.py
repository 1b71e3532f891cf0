"""Liquid templates for action fields and messages: strict, sandboxed, checked at startup.

python-liquid 2 does the parsing, rendering and static analysis; this module only sets it up
for untrusted text: undefined variables fail (``StrictDefaultUndefined``: a typo is an error,
``| default:`` still supplies a fallback), unknown filters fail, there is no loader (so
``include``/``render`` could not read a file, and both tags are removed anyway), and loops,
output and local variables are capped. ``unknown_variables`` compares a template's variable
paths with the names the input offers, so a misspelt name fails at startup with the available
ones listed, not at the first record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from liquid import Environment, StrictDefaultUndefined
from liquid.exceptions import LiquidError

#: What templates of ``audience_changes`` records see at top level (tap-cdp's contract), and
#: the names of the objects below them (``person.attributes`` and ``row`` hold anything).
AUDIENCE_CHANGE_NAMES: dict[str, frozenset[str] | None] = {
    "change_id": frozenset(),
    "audience": frozenset(),
    "event": frozenset(),
    "member_kind": frozenset(),
    "stint_number": frozenset(),
    "entered_at": frozenset(),
    "exited_at": frozenset(),
    "changed_at": frozenset(),
    "person_id": frozenset(),
    "deal_id": frozenset(),
    "person": frozenset(
        {
            "person_id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "organization_id",
            "email_permission",
            "sms_permission",
            "pipedrive_person_id",
            "pipedrive_org_id",
            "source",
            "created_at",
            "updated_at",
            "attributes",
        }
    ),
    "deal": frozenset(
        {
            "deal_id",
            "pipedrive_deal_id",
            "title",
            "status",
            "value",
            "currency",
            "pipeline_id",
            "stage_id",
            "person_id",
            "organization_id",
            "attributes",
        }
    ),
    "row": None,
}
#: Objects whose keys are free-form (any name below them is accepted).
OPEN_OBJECTS = frozenset({"row", "person.attributes", "deal.attributes", "record"})


class TemplateError(ValueError):
    """A template does not parse, or uses a name the input does not have."""


class SandboxedEnvironment(Environment):
    """Liquid for untrusted templates: strict names, no files, bounded work."""

    loop_iteration_limit = 10_000
    output_stream_limit = 100_000
    local_namespace_limit = 100_000

    def __init__(self) -> None:
        super().__init__(undefined=StrictDefaultUndefined, strict_filters=True)
        for tag in ("include", "render"):
            self.tags.pop(tag, None)


ENVIRONMENT = SandboxedEnvironment()


class Template:
    """One parsed template (or a constant, for values that hold no ``{{``/``{%``)."""

    def __init__(self, source: str, where: str) -> None:
        self.source = source
        self.where = where
        try:
            self._template = ENVIRONMENT.from_string(source)
        except LiquidError as exc:
            raise TemplateError(f"{where}: {_first_line(exc)}") from None
        unknown = sorted(set(self._template.filter_names()) - set(ENVIRONMENT.filters))
        if unknown:
            msg = f"{where}: unknown filter {', '.join(unknown)}"
            raise TemplateError(msg)

    @property
    def variable_paths(self) -> list[str]:
        """The input names it reads (``person.first_name``)."""
        return sorted(self._template.global_variable_paths())

    def render(self, data: Mapping[str, Any]) -> str:
        """Render; ``TemplateError`` (one line) if a name is undefined or a limit is hit."""
        try:
            return self._template.render(**data)
        except LiquidError as exc:
            raise TemplateError(f"{self.where}: {_first_line(exc)}") from None


def _first_line(exc: LiquidError) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip().splitlines()[0]


def unknown_variables(
    paths: Iterable[str], names: Mapping[str, frozenset[str] | None]
) -> list[str]:
    """The paths that name nothing in ``names`` (top level → its keys, ``None`` = any)."""
    unknown = []
    for path in paths:
        parts = path.replace("[", ".").replace("]", "").split(".")
        top = parts[0]
        if top not in names:
            unknown.append(path)
            continue
        keys = names[top]
        if keys is None or len(parts) == 1 or top in OPEN_OBJECTS:
            continue
        if parts[1] not in keys:
            unknown.append(path)
    return unknown


def available(names: Mapping[str, frozenset[str] | None]) -> str:
    """The names a template may use, for an error message."""
    shown = []
    for top, keys in names.items():
        if keys:
            shown.append(f"{top}.{{{', '.join(sorted(keys))}}}")
        elif keys is None:
            shown.append(f"{top}.*")
        else:
            shown.append(top)
    return ", ".join(shown)


def record_names(properties: Iterable[str]) -> dict[str, frozenset[str] | None]:
    """What templates see of another stream's records: its columns and ``record``."""
    names: dict[str, frozenset[str] | None] = dict.fromkeys(properties)
    names["record"] = None
    return names
