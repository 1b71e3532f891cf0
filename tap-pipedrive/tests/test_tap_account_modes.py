"""Accounts and tokens that lack something the tap asks for: Pipedrive's marketing app, the
OAuth scope ``admin``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pipedrive_sandbox.testing import start_sandbox
from tap_helpers import catalog_for, run_cli, run_tap, sandbox_config

MARKETING = {"marketing_status", "doi_status"}
# An OAuth app that asked for read scopes, not for "admin".
READ_SCOPES = ("base", "deals:read", "contacts:read", "activities:read", "users:read")
FIELD_KEYS = (
    "field_code",
    "field_name",
    "field_type",
    "is_custom_field",
    "options",
    "subfields",
    "readable_name",
)


def test_persons_without_marketing_app_arrive_without_marketing_status(tmp_path: Path) -> None:
    with start_sandbox(seed=11, scale=300, burst_limit=0, no_marketing_app=True) as sandbox:
        config = sandbox_config(sandbox, page_size=10)
        catalog = catalog_for(config, {"persons"})
        sandbox.control.reset_stats()
        run = run_cli(tmp_path, config, catalog=catalog)
        stats = sandbox.control.stats()
        live = {p["id"] for p in sandbox.control.dataset("persons", include_deleted=False)}
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("persons")) == sorted(live)
    assert not any(MARKETING & set(person) for person in run.records["persons"])
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "persons")
    assert set(schema["schema"]["properties"]) >= MARKETING
    pages = math.ceil(len(live) / 10)
    assert pages > 3
    assert stats["by_operation"]["GET /api/v2/persons"]["requests"] == pages + 1
    assert stats["by_status"].get("400") == 1
    warnings = [line for line in run.stderr.splitlines() if "marketing app" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert "WARNING" in warnings[0]
    assert "marketing_status will be absent" in warnings[0]


def _tokens_by_stream(stderr: str) -> dict[str, int]:
    """The tap's own token accounting, from its METRIC lines."""
    points = [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in stderr.splitlines()
        if '"metric":"pipedrive_token_count"' in line
    ]
    return {point["tags"]["stream"]: point["value"] for point in points}


def _oauth_config(sandbox: Any) -> dict[str, Any]:
    return {
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "refresh_token": "sandbox-refresh-token",
        "oauth_token_url": f"{sandbox.base_url}/oauth/token",
        "retry_base_delay": 0.01,
    }


def test_activity_fields_without_admin_scope_come_from_api_v1(tmp_path: Path) -> None:
    with start_sandbox(seed=11, scale=300, burst_limit=0, oauth_scopes=READ_SCOPES) as sandbox:
        token_config = sandbox_config(sandbox)  # API tokens have no scopes: v2 answers
        catalog = catalog_for(token_config, {"activity_fields", "activities"})
        expected = run_tap(token_config, catalog=catalog)
        sandbox.control.reset_stats()
        run = run_cli(tmp_path, _oauth_config(sandbox), catalog=catalog)
        stats = sandbox.control.stats()
    assert run.returncode == 0, run.stderr[-2000:]
    fields = [{k: f[k] for k in FIELD_KEYS} for f in run.records["activity_fields"]]
    assert fields == [{k: f[k] for k in FIELD_KEYS} for f in expected.records["activity_fields"]]
    priority = next(f for f in fields if f["field_code"] == "priority")
    assert [o["label"] for o in priority["options"]] == ["High", "Medium", "Low"]
    assert run.activated["activity_fields"]
    assert sorted(run.ids("activities")) == sorted(expected.ids("activities"))
    operations = stats["by_operation"]
    assert operations["GET /api/v2/activityFields"] == {"requests": 1, "tokens": 10}
    assert operations["GET /api/v1/activityFields"] == {"requests": 1, "tokens": 20}
    assert stats["by_status"].get("403") == 1
    assert _tokens_by_stream(run.stderr)["activity_fields"] == 10 + 20
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert "OAuth scope admin" in warnings[0]
    assert "GET /api/v1/activityFields" in warnings[0]


def test_a_refused_field_list_leaves_custom_fields_out_instead_of_failing(
    tmp_path: Path,
) -> None:
    """An OAuth app without ``deals:read``: ``GET /api/v2/dealFields`` answers 403."""
    scopes = [scope for scope in READ_SCOPES if scope != "deals:read"]
    with start_sandbox(seed=11, scale=300, burst_limit=0, oauth_scopes=scopes) as sandbox:
        config = _oauth_config(sandbox)
        discovery = run_cli(tmp_path, config, "--discover")
        catalog = catalog_for(config, {"persons", "deal_fields"})
        sandbox.control.reset_stats()
        run = run_cli(tmp_path, config, catalog=catalog)
        stats = sandbox.control.stats()
    assert discovery.returncode == 0, discovery.stderr[-2000:]
    schemas = {entry["tap_stream_id"]: entry["schema"] for entry in catalog["streams"]}
    assert "custom_fields" not in schemas["deals"]["properties"]
    assert schemas["persons"]["properties"]["custom_fields"]["properties"]
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records["persons"]
    assert all(person["custom_fields"] is not None for person in run.records["persons"])
    assert not run.records["deal_fields"]
    assert not run.activated["deal_fields"], "nothing read: no field may be retired downstream"
    assert stats["by_operation"]["GET /api/v2/dealFields"]["requests"] == 1
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert "HTTP 403 for GET /api/v2/dealFields" in warnings[0]
    assert "scope deals:read" in warnings[0]
