"""Declared actions: what to write to Pipedrive for which records, checked before any record.

An action (``meltano.yml``, setting ``actions``)::

    - name: call-slipping-subscribers           # unique; the ledger's key with the record's
      when: {audience: slipping_subscribers, event: entered}   # top-level values to match
      create: activity                          # or update: / upsert: (person only)
      match: {id: "{{ deal.pipedrive_deal_id }}"}   # update: the id; upsert: email or a
                                                # custom field's readable name
      fields: {subject: "Check in with {{ person.first_name }}", type: call}
      owner: {round_robin: [3, 4]}              # or {fixed: 3} or {template: "{{ ... }}"}

Every problem is found at startup and reported in one line naming the action and what to
change: an unknown key, verb or object, a field the object does not have (valid ones listed),
a template that does not parse or names a variable the input does not have (available ones
listed). ``plan`` turns a record into the body Pipedrive wants, typed per field (a rendered
``person_id`` is an integer); a record an action cannot run for (no email to match, an id
template rendered empty) raises :class:`Skip` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from target_pipedrive.custom_fields import CustomFieldError, CustomFieldNames
from target_pipedrive.objects import OBJECTS, PipedriveObject
from target_pipedrive.templates import (
    AUDIENCE_CHANGE_NAMES,
    Template,
    TemplateError,
    available,
    unknown_variables,
)

VERBS = ("create", "update", "upsert")
KEYS = frozenset({"name", "when", *VERBS, "match", "fields", "owner"})
OWNER_KINDS = ("fixed", "template", "round_robin")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class ActionConfigError(ValueError):
    """An action that cannot work; the message is one line."""


class Skip(Exception):  # noqa: N818 - an outcome, not a failure
    """The action cannot run for this record; the message says why."""


@dataclass
class Plan:
    """What one action will write for one record."""

    body: dict[str, Any]
    match: dict[str, Any]
    round_robin: bool = False


@dataclass
class Action:
    """One declared action, its templates parsed and checked."""

    name: str
    verb: str
    target: PipedriveObject
    when: dict[str, Any]
    match: dict[str, Template]
    fields: dict[str, Any]
    custom_fields: dict[str, Any]
    owner: dict[str, Any] | None
    stream: str | None
    templates: list[Template] = field(default_factory=list)

    @property
    def object_type(self) -> str:
        """``person``, ``deal``, ``activity``, ``note`` or ``organization``."""
        return self.target.name

    def applies_to(self, stream: str, record: Mapping[str, Any]) -> bool:
        """Whether the record is one this action reacts to."""
        if (self.stream or "audience_changes") != stream:
            return False
        return all(record.get(key) == value for key, value in self.when.items())

    def check_variables(self, names: Mapping[str, frozenset[str] | None]) -> None:
        """Fail (one line) if a template names a variable the input does not have."""
        for template in self.templates:
            unknown = unknown_variables(template.variable_paths, names)
            if unknown:
                msg = (
                    f"action '{self.name}': {template.where} uses unknown variable "
                    f"{', '.join(unknown)}; available: {available(names)}"
                )
                raise ActionConfigError(msg)

    def check_custom_fields(self, names: CustomFieldNames) -> None:
        """Fail (one line) on an unknown custom field name or a literal unknown label."""
        wanted = dict(self.custom_fields)
        if self.verb == "upsert" and "email" not in self.match:
            wanted |= dict(self.match)
        for name, value in wanted.items():
            try:
                writable = names.field(name)
                if not _is_template(value):
                    writable.encode(_source(value))
            except CustomFieldError as exc:
                raise ActionConfigError(f"action '{self.name}': {exc}") from None

    def plan(  # noqa: PLR0912 - one branch per kind of field
        self, data: Mapping[str, Any], custom: CustomFieldNames | None = None
    ) -> Plan:
        """The typed body and match values for one record.

        Raises:
            Skip: the action cannot run for this record (reason in the message).
        """
        try:
            match = {key: t.render(data).strip() for key, t in self.match.items()}
            body: dict[str, Any] = {}
            for name, value in self.fields.items():
                typed = _typed(self.target.fields[name], name, value, data)
                if typed is None and _templated_id(name, value):
                    raise Skip(f"{name} rendered empty")
                if typed is not None:
                    body[name] = typed
            if self.custom_fields:
                body["custom_fields"] = self._custom_values(data, custom)
        except TemplateError as exc:
            raise Skip(str(exc)) from None
        key = next(iter(match), None)
        if self.verb == "upsert" and key != "email" and custom is not None and match[key]:
            # the person created when none matches carries the value it will be found by
            body.setdefault("custom_fields", {})[custom.field(key).code] = match[key]
        for key, value in match.items():
            if not value:
                raise Skip(f"match {key} rendered empty")
        if self.verb == "update":
            match["id"] = _integer("match id", match["id"])
        owner_field = self.target.owner_field
        round_robin = False
        if self.owner and owner_field:
            kind, value = next(iter(self.owner.items()))
            if kind == "fixed":
                body[owner_field] = int(value)
            elif kind == "template":
                rendered = _render(value, data).strip()
                if rendered:
                    body[owner_field] = _integer("owner", rendered)
            else:
                round_robin = True
        note_without_link = self.target.name == "note" and self.verb != "update"
        if note_without_link and not any(body.get(link) for link in self.target.links):
            raise Skip("a note needs one of deal_id, person_id, org_id")
        return Plan(body=body, match=match, round_robin=round_robin)

    def _custom_values(
        self, data: Mapping[str, Any], custom: CustomFieldNames | None
    ) -> dict[str, Any]:
        out = {}
        for name, value in self.custom_fields.items():
            rendered = (
                [_render(v, data) for v in value]
                if isinstance(value, list)
                else _render(value, data)
            )
            if custom is None:
                out[name] = rendered
                continue
            writable = custom.field(name)
            try:
                out[writable.code] = writable.encode(rendered)
            except CustomFieldError as exc:
                raise Skip(str(exc)) from None
        return out


def _source(value: Any) -> Any:
    """A field's value as written in the config (templates as their text)."""
    if isinstance(value, list):
        return [_source(item) for item in value]
    return value.source if isinstance(value, Template) else value


def _is_template(value: Any) -> bool:
    source = _source(value)
    values = source if isinstance(source, list) else [source]
    return any(isinstance(v, str) and ("{{" in v or "{%" in v) for v in values)


def _templated_id(name: str, value: Any) -> bool:
    return name.endswith("_id") and _is_template(value)


def _render(value: Any, data: Mapping[str, Any]) -> Any:
    return value.render(data) if isinstance(value, Template) else value


def _integer(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise Skip(f"{name} rendered '{text[:40]}', not an integer") from None
    if not number.is_integer():
        raise Skip(f"{name} rendered '{text[:40]}', not an integer")
    return int(number)


def _number(name: str, value: Any) -> float | int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise Skip(f"{name} rendered '{text[:40]}', not a number") from None
    return int(number) if number.is_integer() and "." not in text else number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise Skip(f"{name} rendered '{text[:40]}', not true or false")


def _typed(kind: str, name: str, value: Any, data: Mapping[str, Any]) -> Any:
    """The rendered value as the field's JSON type; None when it rendered empty."""
    if kind in ("contacts", "integers"):
        items = value if isinstance(value, list) else [value]
        rendered = [str(_render(item, data)).strip() for item in items]
        rendered = [item for item in rendered if item]
        if not rendered:
            return None
        if kind == "integers":
            return [_integer(name, item) for item in rendered]
        return [{"value": item, "primary": index == 0} for index, item in enumerate(rendered)]
    rendered = _render(value, data)
    if isinstance(rendered, str):
        rendered = rendered.strip() if kind != "string" else rendered
        if rendered.strip() == "":
            return None
    converters: dict[str, Callable[[str, Any], Any]] = {
        "integer": _integer,
        "number": _number,
        "boolean": _boolean,
    }
    if kind in converters:
        return converters[kind](name, rendered)
    return str(rendered)


def _template(value: Any, where: str, templates: list[Template]) -> Any:
    """Parse every string of a value (lists item by item); other values stay constants."""
    if isinstance(value, list):
        return [_template(item, f"{where}[{i}]", templates) for i, item in enumerate(value)]
    if isinstance(value, str):
        template = Template(value, where)
        templates.append(template)
        return template
    return value


def parse_action(raw: Any, index: int) -> Action:  # noqa: PLR0912, PLR0915 - one check per rule
    """Check one action from the config; ``ActionConfigError`` (one line) if it cannot work."""
    if not isinstance(raw, dict):
        raise ActionConfigError(f"actions[{index}] must be an object with name, when and a verb")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ActionConfigError(f"actions[{index}] needs a name")
    label = f"action '{name}'"
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        msg = f"{label}: unknown key '{unknown[0]}'; an action has: {', '.join(sorted(KEYS))}"
        raise ActionConfigError(msg)
    verbs = [verb for verb in VERBS if verb in raw]
    if len(verbs) != 1:
        raise ActionConfigError(f"{label}: give exactly one of create, update, upsert")
    verb = verbs[0]
    object_name = raw[verb]
    if object_name not in OBJECTS:
        valid = ", ".join(OBJECTS)
        raise ActionConfigError(f"{label}: unknown object '{object_name}'; objects: {valid}")
    target = OBJECTS[object_name]
    if verb == "upsert" and object_name != "person":
        raise ActionConfigError(f"{label}: upsert is for persons; use create or update")
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise ActionConfigError(f"{label}: when must be an object of field: value")
    when = dict(when)
    stream = when.pop("stream", None)
    match_raw = raw.get("match") or {}
    if not isinstance(match_raw, dict):
        raise ActionConfigError(f"{label}: match must be an object")
    if verb == "update" and set(match_raw) != {"id"}:
        raise ActionConfigError(f"{label}: update needs match: {{id: ...}} (the Pipedrive id)")
    if verb == "upsert" and len(match_raw) != 1:
        raise ActionConfigError(
            f"{label}: upsert needs match with one key: email, or a custom field's name"
        )
    if verb == "create" and match_raw:
        raise ActionConfigError(f"{label}: create takes no match (use upsert or update)")
    fields_raw = raw.get("fields") or {}
    if not isinstance(fields_raw, dict):
        raise ActionConfigError(f"{label}: fields must be an object of field: value")
    templates: list[Template] = []
    fields_raw = dict(fields_raw)
    custom_raw = fields_raw.pop("custom_fields", None) or {}
    if custom_raw and target.custom_fields_entity is None:
        raise ActionConfigError(f"{label}: a {object_name} has no custom fields")
    for field_name in fields_raw:
        if field_name not in target.fields:
            valid = ", ".join(
                [*target.fields, "custom_fields"] if target.custom_fields_entity else target.fields
            )
            msg = f"{label}: a {object_name} has no field '{field_name}'; its fields: {valid}"
            raise ActionConfigError(msg)
    owner = raw.get("owner")
    if owner is not None:
        if not isinstance(owner, dict) or len(owner) != 1 or next(iter(owner)) not in OWNER_KINDS:
            kinds = ", ".join(OWNER_KINDS)
            raise ActionConfigError(f"{label}: owner must be one of {{{kinds}: ...}}")
        if "owner_id" in fields_raw or "user_id" in fields_raw:
            raise ActionConfigError(f"{label}: give the owner in owner or in fields, not both")
        kind, value = next(iter(owner.items()))
        if kind == "round_robin" and (
            not isinstance(value, list) or not value or not all(isinstance(v, int) for v in value)
        ):
            raise ActionConfigError(f"{label}: owner round_robin takes a list of user ids")
        if kind == "fixed" and not isinstance(value, int):
            raise ActionConfigError(f"{label}: owner fixed takes a user id")
    try:
        match = {k: _template(str(v), f"match.{k}", templates) for k, v in match_raw.items()}
        fields = {k: _template(v, f"fields.{k}", templates) for k, v in fields_raw.items()}
        custom = {
            k: _template(v, f"fields.custom_fields.{k}", templates) for k, v in custom_raw.items()
        }
        if owner and "template" in owner:
            owner = {"template": _template(str(owner["template"]), "owner.template", templates)}
    except TemplateError as exc:
        raise ActionConfigError(f"{label}: {exc}") from None
    action = Action(name, verb, target, when, match, fields, custom, owner, stream, templates)
    if stream is None:
        action.check_variables(AUDIENCE_CHANGE_NAMES)
    return action


def parse_actions(raw: Any) -> list[Action]:
    """Every action of the config, names unique."""
    if not isinstance(raw, list) or not raw:
        raise ActionConfigError("actions must be a non-empty list of actions")
    actions = [parse_action(item, index) for index, item in enumerate(raw)]
    seen: set[str] = set()
    for action in actions:
        if action.name in seen:
            raise ActionConfigError(f"action '{action.name}' is declared twice; names are keys")
        seen.add(action.name)
    return actions
