"""The package README documents every CLI flag, control endpoint and control client method."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pipedrive_sandbox import control
from pipedrive_sandbox.cli import build_parser
from pipedrive_sandbox.testing import SandboxControl

README = (Path(__file__).resolve().parents[2] / "pipedrive-sandbox" / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    following = README.find("\n## ", start + 1)
    return README[start : following if following != -1 else len(README)]


def _serve_flags() -> list[str]:
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    serve = commands.choices["serve"]
    flags = [flag for action in serve._actions for flag in action.option_strings]
    return [flag for flag in flags if flag not in ("-h", "--help")]


@pytest.mark.parametrize("flag", _serve_flags())
def test_every_flag_is_in_the_cli_table(flag: str) -> None:
    assert f"`{flag}`" in _section("CLI"), flag


def test_every_control_endpoint_is_in_the_control_table() -> None:
    source = inspect.getsource(control._dispatch)
    endpoints = re.findall(r'\("(GET|POST|DELETE)", "(/_sandbox/[^"]+)"\)', source)
    assert len(endpoints) >= 11
    table = _section("Control API")
    for method, path in endpoints:
        assert f"`{method} {path}" in table, (method, path)
    for method in ("GET", "POST", "PATCH", "DELETE"):
        assert f"`{method} /_sandbox/records/{{kind}}" in table, method


def test_every_control_client_method_is_listed() -> None:
    table = _section("Control API")
    methods = [name for name in vars(SandboxControl) if not name.startswith("_")]
    assert "health" in methods
    for name in methods:
        assert f"`{name}(" in table, name


def test_no_link_points_to_a_missing_section() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        for title in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)
    }
    for target in re.findall(r"\]\(#([^)]+)\)", README):
        assert target in anchors, target
