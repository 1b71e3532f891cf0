"""Pure logic: token costs against the specs, generated schemas, names, times, versions."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from tap_pipedrive import reconciliation
from tap_pipedrive.budget import TokenBudget
from tap_pipedrive.custom_fields import CustomFieldSet, assign_readable_names, snake_case
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.errors import BudgetExhausted
from tap_pipedrive.settings import split_api_url
from tap_pipedrive.streams import FIELD_STREAMS, OTHER_STREAMS
from tap_pipedrive.tap import TapPipedrive
from tap_pipedrive.timestamps import parse_start_date, to_api_param, to_rfc3339
from tap_pipedrive.transport import redact_url

ROOT = Path(__file__).resolve().parents[2]


@cache
def _spec(version: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "spec" / "pipedrive-openapi" / f"{version}.yaml").read_text())


STREAM_ENDPOINTS = [
    (cls.name, endpoint) for cls in (*FIELD_STREAMS, *OTHER_STREAMS) for endpoint in cls.endpoints
]


@pytest.mark.parametrize(
    ("stream", "endpoint"),
    STREAM_ENDPOINTS,
    ids=[f"{name}-{e.api_version}{e.path}" for name, e in STREAM_ENDPOINTS],
)
def test_stream_token_costs_match_the_spec(stream: str, endpoint: Endpoint) -> None:
    operation = _spec(endpoint.api_version)["paths"].get(endpoint.path, {}).get("get")
    assert operation is not None, (
        f"{stream}: GET {endpoint.path} is not in spec/pipedrive-openapi/{endpoint.api_version}"
    )
    assert operation["x-token-cost"] == endpoint.token_cost, stream


def test_streams_pick_the_endpoint_they_pay_for() -> None:
    tap = TapPipedrive(config={"api_token": "secret", "include_custom_fields": False})
    deals, activity_fields = tap.streams["deals"], tap.streams["activity_fields"]
    assert deals.endpoint({"is_archived": True}) == Endpoint("v2", "/deals/archived", 20)
    assert deals.endpoint({"is_archived": False}) == Endpoint("v2", "/deals", 10)
    assert deals.get_url({"is_archived": True}).endswith("/api/v2/deals/archived")
    assert activity_fields.endpoint(None) == Endpoint("v2", "/activityFields", 10)
    # the fallback for OAuth tokens without the admin scope pays v1's price
    activity_fields.reads_v1 = True
    assert activity_fields.endpoint(None) == Endpoint("v1", "/activityFields", 20)
    assert activity_fields.url_base.endswith("/api/v1")
    changelog = tap.streams["deal_changelog"]
    assert changelog.get_url({"deal_id": 7}).endswith("/api/v1/deals/7/changelog")


def test_committed_schemas_are_the_generated_ones() -> None:
    script = ROOT / "tap-pipedrive" / "scripts" / "generate_schemas.py"
    spec = importlib.util.spec_from_file_location("generate_schemas", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    specs = {v: _spec(v) for v in ("v1", "v2")}
    for stream, (version, path) in module.SOURCES.items():
        committed = json.loads((module.OUT_DIR / f"{stream}.json").read_text())
        assert committed == module.build(stream, specs[version], path), stream


def test_budget_refuses_the_call_that_would_pass_the_cap() -> None:
    budget = TokenBudget(limit=30)
    budget.reserve(10)
    budget.charge("persons", 10)
    budget.reserve(20)
    budget.charge("deals", 20)
    with pytest.raises(BudgetExhausted, match="daily_token_budget of 30 tokens reached"):
        budget.reserve(1)
    assert budget.spent == 30
    assert dict(budget.spent_by_stream) == {"persons": 10, "deals": 20}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.987Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05Z"),
        ("2024-01-02 03:04:05", "2024-01-02T03:04:05Z"),
        ("2024-02-29 12:00:00", "2024-02-29T12:00:00Z"),
        ("0000-00-00 00:00:00", None),
        ("2023-02-29 12:00:00", None),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_timestamps(value: str | None, expected: str | None) -> None:
    assert to_rfc3339(value) == expected


def test_start_date_and_api_parameter() -> None:
    assert parse_start_date("2024-05-01") == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    assert to_api_param(parse_start_date("2024-05-01T10:00:00.5+02:00")) == "2024-05-01T08:00:00Z"
    with pytest.raises(ValueError, match="start_date 'May 1st'"):
        parse_start_date("May 1st")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Lead source", "lead_source"),
        ("Größe (cm)", "grosse_cm"),
        ("Клиент", "klient"),
        ("2nd phone", "field_2nd_phone"),
        ("!!!", "field"),
        ("A" * 80, "a" * 38),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def _field(code: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"field_code": code, "field_name": name, "is_custom_field": True, **extra}


def test_collisions_keep_existing_names_when_a_namesake_is_added() -> None:
    first, second, third = "a1" * 20, "b2" * 20, "c3" * 20
    before = assign_readable_names([_field(first, "Tier"), _field(second, "Tier")])
    after = assign_readable_names(
        [_field(first, "Tier"), _field(second, "Tier"), _field(third, "tier!")]
    )
    assert before == {first: "tier", second: "tier_b2b2b2b2"}
    assert after == {**before, third: "tier_c3c3c3c3"}


def test_values_become_labels_and_objects() -> None:
    definitions = [
        _field("e" * 40, "Plan", field_type="enum", options=[{"id": 1, "label": "Pro"}]),
        _field(
            "s" * 40,
            "Tags",
            field_type="set",
            options=[{"id": 1, "label": "A"}, {"id": 2, "label": "B"}],
        ),
        _field("m" * 40, "Budget", field_type="monetary"),
        _field("t" * 40, "Call at", field_type="timerange"),
    ]
    names = assign_readable_names(definitions)
    for field in definitions:
        field["readable_name"] = names[field["field_code"]]
    fields = CustomFieldSet.from_definitions(definitions)
    converted = fields.convert(
        {
            "e" * 40: 1,
            "s" * 40: [2, 1, 9],
            "m" * 40: {"value": 10.5, "currency": "EUR"},
            "t" * 40: {"value": "09:00:00", "until": "10:00:00", "timezone_id": 1},
            "x" * 40: "a field created after discovery",
        }
    )
    assert converted == {
        "plan": "Pro",
        "tags": ["B", "A", "9"],
        "budget": {"value": 10.5, "currency": "EUR"},
        "call_at": {
            "value": "09:00:00",
            "until": "10:00:00",
            "timezone_id": 1,
            "timezone_name": None,
        },
    }
    assert fields.convert({"e" * 40: {"id": 7, "label": "Gone"}}) == {"plan": "7"}


def test_reconciliation_versions_increase_and_passes_close() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    state: dict[str, Any] = {}
    live: dict[str, Any] = {"replication_key_value": "2025-12-01T00:00:00Z"}
    archived: dict[str, Any] = {"replication_key_value": "2025-11-01T00:00:00Z"}
    assert reconciliation.is_due(state, now, 7)
    planned = reconciliation.begin_pass(state, [live, archived], now)
    assert planned["changes_since"] == "2025-11-01T00:00:00Z"
    assert "replication_key_value" not in live
    reconciliation.finish_partition(live, planned["version"])
    assert not reconciliation.pass_complete([live, archived], planned["version"])
    reconciliation.finish_partition(archived, planned["version"])
    assert reconciliation.pass_complete([live, archived], planned["version"])
    version = reconciliation.complete_pass(state, [live, archived])
    assert state == {"table_version": version, "last_reconciled_at": "2026-01-01T00:00:00Z"}
    assert not reconciliation.is_due(state, now + dt.timedelta(days=6), 7)
    assert reconciliation.is_due(state, now + dt.timedelta(days=7), 7)
    # A second pass in the same second still gets a later version.
    assert reconciliation.begin_pass(state, [live], now)["version"] == version + 1


def test_a_run_plan_begins_resumes_forgoes_and_keeps_passes() -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    state: dict[str, Any] = {}
    first = reconciliation.plan_run(state, [state], now, 7, complete=True)
    assert first == reconciliation.RunPlan(int(now.timestamp()), None, int(now.timestamp()))
    # the next run resumes the same pass instead of beginning another
    resumed = reconciliation.plan_run(state, [state], now, 7, complete=True)
    assert resumed == reconciliation.RunPlan(first.version, None, None)
    # an incomplete run drops it and its records carry no version; the bookmark stays
    state["replication_key_value"] = "2026-03-01T10:00:00Z"
    dropped = reconciliation.plan_run(state, [state], now, 7, complete=False)
    assert dropped == reconciliation.RunPlan(None, "2026-03-01T10:00:00Z")
    assert reconciliation.IN_PROGRESS not in state
    # the next complete run begins a later pass at once, remembering what changed since when
    again = reconciliation.plan_run(state, [state], now, 7, complete=True)
    assert again == reconciliation.RunPlan(first.version + 1, "2026-03-01T10:00:00Z", again.begun)
    assert again.begun == first.version + 1
    reconciliation.finish_partition(state, again.begun)
    reconciliation.complete_pass(state, [state])
    # between passes: the activated version and the bookmark
    state["replication_key_value"] = "2026-03-02T08:00:00Z"
    between = reconciliation.plan_run(state, [state], now + dt.timedelta(days=1), 7, complete=True)
    assert between == reconciliation.RunPlan(again.begun, "2026-03-02T08:00:00Z")


@pytest.mark.parametrize(
    ("api_url", "base", "dropped"),
    [
        ("https://acme.pipedrive.com", "https://acme.pipedrive.com", ""),
        ("https://acme.pipedrive.com/v1/", "https://acme.pipedrive.com", "/v1"),
        ("http://gw.internal:8080/pipedrive", "http://gw.internal:8080/pipedrive", ""),
        ("http://gw.internal/pipedrive/api/v2", "http://gw.internal/pipedrive", "/api/v2"),
    ],
)
def test_api_url_keeps_a_gateway_prefix_and_drops_a_pasted_api_path(
    api_url: str, base: str, dropped: str
) -> None:
    assert split_api_url(api_url) == (base, dropped)


@pytest.mark.parametrize(
    "api_url",
    [
        "ftp://gw:hunter2@gw.internal/pipedrive",
        "gw:hunter2@gw.internal",
        "https://gw:hunter2@gw.internal/api/v2/persons",
        "gw:p@hunter2@gw.internal",
        "gw:p#hunter2@gw.internal",
        "gw:p?hunter2@gw.internal:9",
        "ftp://gw:p@hunter2@gw.internal/pipedrive",
        "https://gw:p@hunter2@gw.internal/api/v2/persons",
    ],
)
def test_api_url_errors_never_show_its_password(api_url: str) -> None:
    with pytest.raises(ValueError, match="api_url") as refused:
        split_api_url(api_url)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://gw:p@ss@127.0.0.1:9", "http://***@127.0.0.1:9"),
        ("gw:p@ss@127.0.0.1:9", "***@127.0.0.1:9"),
        ("https://gw:p@s@s@gw.internal/pipedrive/a@b", "https://***@gw.internal/pipedrive/a@b"),
        ("http://gw:p%40ss@gw.internal", "http://***@gw.internal"),
        ("http://gw:pa#ss@gw.internal", "http://***@gw.internal"),
        ("http://gw:pa?ss@gw.internal/x", "http://***@gw.internal/x"),
        ("https://acme.pipedrive.com/pipedrive", "https://acme.pipedrive.com/pipedrive"),
    ],
)
def test_redact_url_masks_the_whole_userinfo(url: str, shown: str) -> None:
    """requests splits the userinfo at its LAST "@": all of it is the password's."""
    assert redact_url(url) == shown


def test_the_pasted_path_warning_never_shows_the_api_url_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {
        "api_token": "t",
        "api_url": "https://gw:hunter2@gw.internal/pipedrive/api/v1",
        "include_custom_fields": False,
    }
    tap = TapPipedrive(config=config)
    assert tap.api_base_url == "https://gw:hunter2@gw.internal/pipedrive"
    warnings = [r.getMessage() for r in caplog.records if "api_url ends in" in r.getMessage()]
    assert warnings == [
        "api_url ends in /api/v1, which the tap adds itself: using https://***@gw.internal/pipedrive"
    ]
