"""A full sync against the shared sandbox: every record once, readable custom fields, UTC times."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import pytest
import requests
from tap_helpers import TapRun, by_id, catalog_for, run_tap, sandbox_config
from tap_pipedrive.tap import TapPipedrive

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ENTITY_FIELDS = {
    "persons": "personFields",
    "organizations": "organizationFields",
    "deals": "dealFields",
}


@pytest.fixture(scope="module")
def full_and_stats(shared_sandbox: Any) -> tuple[TapRun, dict[str, Any]]:
    shared_sandbox.control.reset_stats()
    run = run_tap(sandbox_config(shared_sandbox))
    return run, shared_sandbox.control.stats()


@pytest.fixture(scope="module")
def full_run(full_and_stats: tuple[TapRun, dict[str, Any]]) -> TapRun:
    return full_and_stats[0]


@pytest.fixture(scope="module")
def stats_of_full_run(full_and_stats: tuple[TapRun, dict[str, Any]]) -> dict[str, Any]:
    return full_and_stats[1]


def _sandbox_now(sandbox: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(sandbox.control.now().replace("Z", "+00:00"))


def test_every_record_arrives_exactly_once(full_run: TapRun, shared_sandbox: Any) -> None:
    control = shared_sandbox.control
    for stream in ("persons", "organizations", "activities"):
        expected = {r["id"] for r in control.dataset(stream, include_deleted=False)}
        ids = full_run.ids(stream)
        assert Counter(ids).most_common(1)[0][1] == 1, f"duplicate ids in {stream}"
        assert set(ids) == expected, stream
    notes = {r["id"] for r in control.dataset("notes") if r["active_flag"]}
    assert sorted(full_run.ids("notes")) == sorted(notes)


def test_deals_include_deleted_within_30_days_and_archived(
    full_run: TapRun, shared_sandbox: Any
) -> None:
    cutoff = _sandbox_now(shared_sandbox) - dt.timedelta(days=30)
    dataset = shared_sandbox.control.dataset("deals")
    expected = {
        d["id"]
        for d in dataset
        if not d["is_deleted"]
        or dt.datetime.fromisoformat(d["update_time"].replace("Z", "+00:00")) >= cutoff
    }
    ids = full_run.ids("deals")
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    emitted = by_id(full_run.records["deals"])
    archived = {d["id"] for d in dataset if d["is_archived"] and d["id"] in expected}
    assert archived, "the seed has archived deals"
    assert {i for i, d in emitted.items() if d["is_archived"]} == archived
    for deal in dataset:
        if deal["id"] in expected and deal["is_deleted"]:
            assert emitted[deal["id"]]["is_deleted"] is True
            assert emitted[deal["id"]]["status"] == "deleted"


def test_every_stream_has_unique_keys(full_run: TapRun) -> None:
    for stream, records in full_run.records.items():
        ids = full_run.ids(stream)
        assert len(ids) == len(set(ids)), stream
        assert records


def test_timestamps_are_rfc3339_utc(full_run: TapRun, shared_sandbox: Any) -> None:
    tap = TapPipedrive(config=sandbox_config(shared_sandbox))
    checked = 0
    for stream, records in full_run.records.items():
        properties = tap.streams[stream].schema["properties"]
        times = [k for k, v in properties.items() if v.get("format") == "date-time"]
        for record in records:
            for key in times:
                value = record.get(key)
                if value is not None:
                    assert RFC3339_UTC.fullmatch(value), (stream, key, value)
                    checked += 1
    # v1 notes arrive as "YYYY-MM-DD HH:MM:SS" and leave converted.
    raw = {n["id"]: n for n in shared_sandbox.control.dataset("notes")}
    for note in full_run.records["notes"]:
        assert note["update_time"] == raw[note["id"]]["update_time"].replace(" ", "T") + "Z"
        assert note["is_deleted"] is (not raw[note["id"]]["active_flag"])
    assert checked > 500


def _definitions(sandbox: Any, endpoint: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{sandbox.base_url}/api/v2/{endpoint}",
        headers={"x-api-token": sandbox.api_token},
        params={"limit": 500},
        timeout=30,
    )
    return response.json()["data"]


def test_custom_field_names_and_labels_match_definitions(
    full_run: TapRun, shared_sandbox: Any
) -> None:
    definitions = _definitions(shared_sandbox, "personFields")
    emitted_fields = {f["field_code"]: f for f in full_run.records["person_fields"]}
    assert set(emitted_fields) == {d["field_code"] for d in definitions}
    names = {code: f["readable_name"] for code, f in emitted_fields.items()}
    custom = [d for d in definitions if d["is_custom_field"]]
    by_name = {
        d["field_name"]: [c for c in custom if c["field_name"] == d["field_name"]] for d in custom
    }
    # Unique names become snake_case; of two "Region" fields the first keeps the plain name.
    assert names[by_name["Lead source"][0]["field_code"]] == "lead_source"
    first, second = by_name["Region"]
    assert names[first["field_code"]] == "region"
    assert names[second["field_code"]] == f"region_{second['field_code'][:8]}"
    # Built-in fields keep their API key.
    assert all(
        names[d["field_code"]] == d["field_code"] for d in definitions if not d["is_custom_field"]
    )

    raw_persons = {p["id"]: p for p in shared_sandbox.control.dataset("persons")}
    checked = unknown = 0
    for person in full_run.records["persons"]:
        raw = raw_persons[person["id"]]["custom_fields"]
        for field in custom:
            value = raw.get(field["field_code"])
            out = person["custom_fields"][names[field["field_code"]]]
            labels = {str(o["id"]): o["label"] for o in field.get("options") or []}
            if value is None:
                assert out is None
            elif field["field_type"] == "enum":
                # A deleted option's id is kept as text (documented in the README).
                assert out == labels.get(str(value), str(value))
                unknown += str(value) not in labels
                checked += 1
            elif field["field_type"] == "set":
                assert out == [labels.get(str(v), str(v)) for v in value]
                checked += 1
            elif field["field_type"] == "monetary":
                assert out == {"value": value["value"], "currency": value["currency"]}
    assert checked > 20
    assert unknown >= 1, "the seed references a deleted option"


def test_custom_fields_are_typed_in_the_schema(shared_sandbox: Any) -> None:
    tap = TapPipedrive(config=sandbox_config(shared_sandbox))
    for stream, endpoint in ENTITY_FIELDS.items():
        custom = tap.streams[stream].schema["properties"]["custom_fields"]
        definitions = [d for d in _definitions(shared_sandbox, endpoint) if d["is_custom_field"]]
        assert len(custom["properties"]) == len(definitions), stream
        assert custom["additionalProperties"] is False
    persons = tap.streams["persons"].schema["properties"]["custom_fields"]["properties"]
    assert persons["lead_source"]["type"] == ["string", "null"]
    assert persons["interests"]["type"] == ["array", "null"]
    assert persons["lifetime_value"]["properties"]["value"]["type"] == ["number", "null"]
    assert persons["nps_score"]["type"] == ["number", "null"]
    assert persons["account_manager"]["type"] == ["integer", "null"]


def test_activities_carry_no_custom_fields_and_cost_no_field_list(shared_sandbox: Any) -> None:
    """The spec's v2 activity has no custom_fields: nothing to convert, nothing to pay for."""
    config = sandbox_config(shared_sandbox)
    catalog = catalog_for(config, {"activities"})
    schema = next(s for s in catalog["streams"] if s["tap_stream_id"] == "activities")["schema"]
    assert "custom_fields" not in schema["properties"]
    shared_sandbox.control.reset_stats()
    run = run_tap(config, catalog=catalog)
    operations = shared_sandbox.control.stats()["by_operation"]
    assert run.records["activities"]
    assert set(operations) == {"GET /api/v2/activities"}
    assert set(run.tap.budget.spent_by_stream) == {"activities"}


def test_include_custom_fields_off(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, include_custom_fields=False)
    tap = TapPipedrive(config=config)
    for stream in ENTITY_FIELDS:
        assert "custom_fields" not in tap.streams[stream].schema["properties"]
    run = run_tap(config)
    for stream in ENTITY_FIELDS:
        assert run.records[stream]
        assert all("custom_fields" not in r for r in run.records[stream])
    assert run.records["person_fields"], "field definitions are still emitted"


def test_persons_carry_emails_phones_and_marketing_status(
    full_run: TapRun, shared_sandbox: Any
) -> None:
    raw = {p["id"]: p for p in shared_sandbox.control.dataset("persons")}
    statuses = set()
    for person in full_run.records["persons"]:
        assert person["emails"] == raw[person["id"]]["emails"]
        assert person["phones"] == raw[person["id"]]["phones"]
        statuses.add(person["marketing_status"])
    assert {"subscribed", "unsubscribed"} <= statuses


def test_each_field_endpoint_is_called_once_per_run(stats_of_full_run: dict[str, Any]) -> None:
    operations = stats_of_full_run["by_operation"]
    for endpoint in ("personFields", "organizationFields", "dealFields", "activityFields"):
        assert operations[f"GET /api/v2/{endpoint}"]["requests"] == 1
    assert operations["GET /api/v1/noteFields"]["requests"] == 1


def test_requests_and_tokens_are_counted_like_the_sandbox(
    full_run: TapRun, stats_of_full_run: dict[str, Any]
) -> None:
    budget = full_run.tap.budget
    assert budget.spent == stats_of_full_run["tokens_spent"]
    assert sum(budget.requests_by_stream.values()) == stats_of_full_run["requests"]
    assert budget.spent_by_stream["deals"] == 10 + 20  # /deals + /deals/archived


def test_deselected_properties_are_left_out(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox)
    catalog = catalog_for(config, {"persons"})
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] != "persons":
            continue
        for item in entry["metadata"]:
            if item["breadcrumb"] in (
                ["properties", "phones"],
                ["properties", "custom_fields", "properties", "lead_source"],
            ):
                item["metadata"]["selected"] = False
    run = run_tap(config, catalog=catalog)
    assert run.records["persons"]
    for person in run.records["persons"]:
        assert "phones" not in person
        assert "emails" in person
        assert "lead_source" not in person["custom_fields"]
        assert "interests" in person["custom_fields"]


def test_stream_maps_and_flattening(shared_sandbox: Any) -> None:
    config = sandbox_config(
        shared_sandbox,
        flattening_enabled=True,
        flattening_max_depth=1,
        stream_maps={"persons": {"name_hash": "md5(name)", "phones": "__NULL__"}},
    )
    run = run_tap(config, catalog=catalog_for(sandbox_config(shared_sandbox), {"persons"}))
    person = run.records["persons"][0]
    assert "custom_fields__lead_source" in person
    assert "custom_fields" not in person
    assert len(person["name_hash"]) == 32
    assert "phones" not in person
    schema = next(m for m in run.messages if m["type"] == "SCHEMA")["schema"]
    assert "custom_fields__lead_source" in schema["properties"]


def test_api_usage_reports_what_the_sandbox_served(
    full_run: TapRun, stats_of_full_run: dict[str, Any]
) -> None:
    (usage,) = full_run.records["api_usage"]
    assert usage["tokens"] == stats_of_full_run["tokens_spent"] > 0
    assert usage["requests"] == stats_of_full_run["requests"]
    per_stream = {row["stream"]: row for row in usage["streams"]}
    assert per_stream["deals"]["tokens"] == 10 + 20  # /deals + /deals/archived
    assert sum(row["tokens"] for row in usage["streams"]) == usage["tokens"]
    assert sum(row["requests"] for row in usage["streams"]) == usage["requests"]
    assert usage["outcome"] == "complete"
    assert usage["token_budget"] is None
    assert RFC3339_UTC.fullmatch(usage["started_at"])
    assert usage["started_at"] <= usage["finished_at"]
    records = [m["stream"] for m in full_run.messages if m["type"] == "RECORD"]
    assert records[-1] == "api_usage", "sent after every other record of the run"


def test_api_usage_of_a_run_the_budget_stopped(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, page_size=20, daily_token_budget=40)
    catalog = catalog_for(config, {"persons", "api_usage"})
    shared_sandbox.control.reset_stats()
    run = run_tap(config, catalog=catalog)
    stats = shared_sandbox.control.stats()
    (usage,) = run.records["api_usage"]
    assert usage["outcome"] == "budget_spent"
    assert usage["token_budget"] == 40
    assert usage["tokens"] == stats["tokens_spent"] == 40  # personFields + 3 pages of persons
    assert usage["requests"] == stats["requests"] == 4
    assert run.messages[-1]["type"] == "STATE", "the final STATE still closes the run"
