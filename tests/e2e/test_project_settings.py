"""meltano.yml and README.md stay true to the settings the tap and the target declare."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from singer_sdk import Tap, Target
from singer_sdk.helpers import capabilities
from tap_cdp.tap import TapCDP
from tap_pipedrive.tap import TapPipedrive
from target_cdp.target import TargetCDP
from target_pipedrive.target import TargetPipedrive

ROOT = Path(__file__).resolve().parents[2]

#: Settings singer-sdk adds to plugins (stream maps, flattening, batching, validation, ...), as
#: its capability schemas name them: they are documented by the SDK, not by this project.
SDK_BUILTINS = frozenset(
    name
    for schema in vars(capabilities).values()
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict)
    for name in schema["properties"]
)
#: Meltano setting kinds that carry each JSON schema type.
KINDS = {
    "string": {"string", "options", "date_iso8601", "password"},
    "boolean": {"boolean"},
    "integer": {"integer"},
    "number": {"decimal", "integer"},
    "array": {"array"},
    "object": {"object"},
}
PLUGINS: dict[str, type[Tap] | type[Target]] = {
    "tap-pipedrive": TapPipedrive,
    "target-cdp": TargetCDP,
    "target-pipedrive": TargetPipedrive,
    "tap-cdp": TapCDP,
}


def _declared(name: str) -> dict[str, dict[str, Any]]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = {p["name"]: p for kind in project["plugins"].values() for p in kind}
    return {s["name"]: s for s in plugins[name].get("settings", [])}


def _own_properties(plugin: type[Tap] | type[Target]) -> dict[str, dict[str, Any]]:
    properties = plugin.config_jsonschema["properties"]
    return {k: v for k, v in properties.items() if k not in SDK_BUILTINS}


def _types(prop: dict[str, Any]) -> set[str]:
    if "anyOf" in prop or "oneOf" in prop:
        return {t for p in prop.get("anyOf", prop.get("oneOf")) for t in _types(p)}
    declared = prop.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


@pytest.mark.parametrize("name", PLUGINS)
def test_meltano_yml_declares_every_setting_of_the_plugin(name: str) -> None:
    declared, properties = _declared(name), _own_properties(PLUGINS[name])
    assert sorted(set(properties) - set(declared)) == [], "settings missing from meltano.yml"
    assert sorted(set(declared) - set(properties) - SDK_BUILTINS) == [], "unknown settings"


@pytest.mark.parametrize("name", PLUGINS)
def test_secrets_are_sensitive_and_kinds_fit_the_json_types(name: str) -> None:
    declared = _declared(name)
    for setting, prop in _own_properties(PLUGINS[name]).items():
        entry = declared[setting]
        assert bool(entry.get("sensitive")) == bool(prop.get("secret")), setting
        kinds = set().union(*(KINDS[t] for t in _types(prop) - {"null"}))
        assert entry.get("kind", "string") in kinds, setting


@pytest.mark.parametrize("name", PLUGINS)
def test_defaults_in_meltano_yml_are_the_plugin_defaults(name: str) -> None:
    declared = _declared(name)
    for setting, prop in _own_properties(PLUGINS[name]).items():
        if "value" in declared[setting]:
            assert declared[setting]["value"] == prop.get("default"), setting


@pytest.mark.parametrize("name", PLUGINS)
def test_readme_documents_every_setting(name: str) -> None:
    readme = (ROOT / "README.md").read_text() + (ROOT / name / "README.md").read_text()
    missing = [
        s for s in _own_properties(PLUGINS[name]) if not re.search(rf"(?<!\w){s}(?!\w)", readme)
    ]
    assert missing == []


def test_the_demo_environment_has_its_own_webhook_spool() -> None:
    """The demo's live extractor reads the demo receiver's spool, never dev's."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [demo] = [e for e in project["environments"] if e["name"] == "demo"]
    overrides = {
        p["name"]: p.get("config", {}) for kind in demo["config"]["plugins"].values() for p in kind
    }
    plugins = {p["name"]: p for kind in project["plugins"].values() for p in kind}
    demo_spool = overrides["tap-pipedrive-live"]["webhook_spool"]
    assert demo_spool == overrides["pipedrive-webhooks"]["spool_url"]
    assert demo_spool.endswith("/output/demo-webhook-spool.sqlite")
    assert demo_spool != plugins["tap-pipedrive-live"]["config"]["webhook_spool"]
