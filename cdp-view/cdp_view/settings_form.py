"""The settings the details panel edits: form fields in, plugin values out, the plugin's checks.

Pure policy, no I/O. A submitted form becomes the values the plugins would receive; a value is
refused with the plugin's own message: target-cdp's JSON schema (what the Singer SDK checks when
the target starts) and then ``target_cdp.settings.Settings`` (its semantic checks). Only the
settings that changed are returned, so the caller writes those and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from singer_sdk.exceptions import ConfigValidationError
from target_cdp.settings import CONFIG_JSONSCHEMA, KEEP_FOREVER, MERGE_STRATEGIES, Settings
from target_cdp.sinks import SINKS

TAP = "tap-pipedrive"
TARGET = "target-cdp"
#: The write-back loader: the panel's switch is its ``enabled`` setting (default on).
WRITEBACK = "target-pipedrive"

#: target-cdp settings the panel edits, in display order.
TARGET_SETTINGS: tuple[str, ...] = (
    "merge_strategy",
    "writable_fields",
    "protect_existing_values",
    "email_permission_field",
    "email_permission_values",
    "sms_permission_field",
    "sms_permission_values",
    "activity_retention_days",
    "activity_retention_overrides",
)
#: Settings whose change only applies to data synced from now on: a full resync applies it to
#: what is stored (custom fields of people who will not change soon, retention windows).
RESYNC_SETTINGS = frozenset(
    {"activity_retention_days", "activity_retention_overrides", "include_custom_fields"}
)
#: The streams the target understands (the others are rejected), offered for selection.
STREAMS: tuple[str, ...] = tuple(name for name in SINKS if not name.startswith("_"))

BOOLEANS = frozenset({"protect_existing_values", "include_custom_fields"})
LISTS = frozenset({"email_permission_values", "sms_permission_values"})
OPTIONAL_TEXT = frozenset({"email_permission_field", "sms_permission_field"})


class SettingRefusedError(ValueError):
    """A submitted value the plugin would refuse; the message is the plugin's."""


@dataclass(frozen=True)
class Change:
    """One setting to write: ``value`` None with ``unset`` means back to the default."""

    plugin: str
    name: str
    value: Any
    unset: bool = False


def selected_streams(select: list[str]) -> set[str]:
    """Streams a Meltano ``select`` list selects whole (``stream.*``)."""
    return {pattern.removesuffix(".*") for pattern in select if pattern.endswith(".*")}


def form_values(config: Mapping[str, Any]) -> dict[str, str]:
    """The current target settings as the form shows them (lists one per line)."""
    shown: dict[str, str] = {}
    for name in TARGET_SETTINGS:
        value = config.get(name, CONFIG_JSONSCHEMA["properties"][name].get("default"))
        if name == "activity_retention_overrides":
            shown[name] = "\n".join(
                f"{pattern} = {KEEP_FOREVER if days is None else days}"
                for pattern, days in retention_overrides(value or {}).items()
            )
        elif isinstance(value, list):
            shown[name] = "\n".join(str(v) for v in value)
        elif value is None:
            shown[name] = ""
        else:
            shown[name] = str(value)
    # Unset (every field) and [] (none but the email) both show an empty list.
    shown["writable_fields_all"] = "on" if config.get("writable_fields") is None else ""
    return shown


def parse_form(
    form: Mapping[str, Any], *, streams: list[str], current_select: list[str], writeback: bool
) -> dict[str, dict[str, Any]]:
    """The submitted form as plugin values: ``{plugin: {setting: value}}``.

    Values are parsed leniently (a number field holding ``abc`` stays a string) so that the
    plugin's own checks, not this parser, say what is wrong. Select patterns the form does not
    show (``person_changelog.*``, property-level patterns) are kept as they are. The write-back
    switch is read only where the project has the write-back loader (``writeback``).
    """
    target: dict[str, Any] = {}
    for name in TARGET_SETTINGS:
        raw = str(form.get(name, "")).strip()
        if name in BOOLEANS:
            target[name] = name in form
        elif name == "writable_fields":
            target[name] = None if "writable_fields_all" in form else _lines(raw)
        elif name in LISTS:
            target[name] = _lines(raw)
        elif name in OPTIONAL_TEXT:
            target[name] = raw or None
        elif name == "activity_retention_days":
            target[name] = int(raw) if raw.lstrip("-").isdigit() else raw
        elif name == "activity_retention_overrides":
            target[name] = _overrides(raw)
        else:
            target[name] = raw
    tap = {
        "include_custom_fields": "include_custom_fields" in form,
        "_select": [p for p in current_select if p.removesuffix(".*") not in STREAMS]
        + [f"{stream}.*" for stream in STREAMS if stream in streams],
    }
    submitted = {TARGET: target, TAP: tap}
    if writeback:
        submitted[WRITEBACK] = {"enabled": "writeback_enabled" in form}
    return submitted


def check_target(config: Mapping[str, Any]) -> None:
    """Raise ``SettingRefusedError`` with target-cdp's own message if it would refuse ``config``."""
    properties = CONFIG_JSONSCHEMA["properties"]
    for name, value in config.items():
        if name not in properties:
            continue
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(properties[name]).iter_errors(value)
        )
        if error is not None:
            location = "".join(f"[{p!r}]" for p in error.absolute_path)
            msg = f"Invalid setting `{name}`{location}: {error.message}"
            raise SettingRefusedError(msg)
    try:
        Settings.from_config(dict(config))
    except ConfigValidationError as exc:
        raise SettingRefusedError(str(exc)) from None


def changes(
    current: Mapping[str, Mapping[str, Any]], submitted: Mapping[str, Mapping[str, Any]]
) -> list[Change]:
    """The settings whose submitted value differs from the current one (defaults applied)."""
    result = []
    for plugin, values in submitted.items():
        for name, value in values.items():
            before = current.get(plugin, {}).get(name, _default(plugin, name))
            if name == "_select" and set(before or []) == set(value):
                continue
            compared = (before, value)
            if name == "activity_retention_overrides":
                compared = (retention_overrides(before), retention_overrides(value))
            if _same(*compared):
                continue
            unset = value is None and plugin == TARGET and _default(plugin, name) is None
            result.append(Change(plugin, name, value, unset=unset))
    return result


def needs_resync(applied: list[Change]) -> bool:
    """Whether the applied changes only reach stored data through a full resync."""
    return any(change.name in RESYNC_SETTINGS for change in applied)


def merge_strategy_options() -> tuple[str, ...]:
    """The merge strategies, as the target names them."""
    return MERGE_STRATEGIES


def retention_overrides(value: Any) -> Any:
    """Retention overrides as the target reads them: dotted activity types, ``forever`` as None.

    Meltano stores an object setting's dotted keys nested (``pipedrive.note.added = 30`` comes
    back as ``{"pipedrive": {"note": {"added": 30}}}``) and target-cdp reads both spellings as
    the same override, so the form shows and compares them the target's way. A value the
    target refuses is returned as it is (its check reports it).
    """
    if not isinstance(value, dict):
        return value
    try:
        return Settings.from_config(
            {"activity_retention_overrides": value}
        ).activity_retention_overrides
    except ConfigValidationError:
        return value


def _default(plugin: str, name: str) -> Any:
    if plugin == TARGET:
        return CONFIG_JSONSCHEMA["properties"][name].get("default")
    if (plugin, name) == (WRITEBACK, "enabled"):
        return True
    return None


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, list) and isinstance(after, list):
        return [str(v) for v in before] == [str(v) for v in after]
    return before == after


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _overrides(raw: str) -> dict[str, Any] | str:
    """``type = days`` lines (``forever`` keeps forever); a malformed line stays text."""
    overrides: dict[str, Any] = {}
    for line in _lines(raw):
        pattern, sep, days = (part.strip() for part in line.partition("="))
        if not sep or not pattern:
            return line
        overrides[pattern] = int(days) if days.isdigit() else days
    return overrides
