"""The generated tables in ``pipedrive_sandbox/spec_tables.py`` match the vendored specs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipedrive_sandbox import spec_tables

SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "pipedrive-sandbox"
    / "scripts"
    / ("generate_spec_tables.py")
)


def _generator():
    spec = importlib.util.spec_from_file_location("generate_spec_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_token_costs_match_every_operation_of_both_specs() -> None:
    generator = _generator()
    specs = {v: generator.load_spec(generator.SPEC_DIR, v) for v in ("v1", "v2")}
    assert generator.token_costs(specs) == spec_tables.TOKEN_COSTS
    assert spec_tables.TOKEN_COSTS[("v2", "GET", "/persons")] == 10
    assert spec_tables.TOKEN_COSTS[("v2", "GET", "/deals/archived")] == 20
    assert spec_tables.TOKEN_COSTS[("v1", "GET", "/notes")] == 20
    assert spec_tables.TOKEN_COSTS[("v1", "GET", "/users/me")] == 2


def test_oauth_scopes_match_every_operation_of_both_specs() -> None:
    generator = _generator()
    specs = {v: generator.load_spec(generator.SPEC_DIR, v) for v in ("v1", "v2")}
    assert generator.oauth_scopes(specs) == spec_tables.OAUTH_SCOPES
    assert spec_tables.OAUTH_SCOPES[("v2", "GET", "/activityFields")] == ("admin",)
    assert spec_tables.OAUTH_SCOPES[("v1", "GET", "/activityFields")] == (
        "activities:read",
        "activities:full",
    )


def test_parameter_and_body_tables_match_the_specs() -> None:
    generator = _generator()
    specs = {v: generator.load_spec(generator.SPEC_DIR, v) for v in ("v1", "v2")}
    assert generator.query_parameters(specs) == spec_tables.QUERY_PARAMETERS
    assert generator.request_bodies(specs) == spec_tables.REQUEST_BODIES
