"""Bad input loses nothing; bad config and database errors fail with one clear line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import sqlalchemy as sa
from target_cdp.database import CDPDatabaseError, Database
from target_cdp.settings import Settings
from target_messages import (
    deal,
    note,
    organization,
    person,
    record,
    run_target,
    schema,
    stream_of,
    ts,
)


def test_bad_records_are_rejected_and_the_run_goes_on(cdp, caplog):
    messages = [
        schema("persons"),
        record("persons", person(1, "a@acme.io")),
        record("persons", {**person(2, "b@acme.io"), "id": "two"}),  # schema: id not an integer
        record("persons", person(3, "c@acme.io", update_time="2026-13-45T99:00:00Z")),
        record("persons", {k: v for k, v in person(4, "d@acme.io").items() if k != "id"}),
        schema("deals"),
        record("deals", deal(1, value=1e40)),
        schema("products"),
        record("products", {"id": 1, "value": "x"}),
        record("products", {"id": 2, "value": "y"}),
    ]
    with caplog.at_level(logging.WARNING):
        cdp.run(messages)
    assert [p["pipedrive_person_id"] for p in cdp.rows("people")] == [1]
    assert cdp.rows("deals") == []
    rejected = cdp.rows("rejected_records", order_by="stream, record_key")
    reasons = {(r["stream"], r["record_key"]): r["reason"] for r in rejected}
    assert "does not match the stream schema" in reasons["persons", "two"]
    assert "update_time is not an RFC 3339 timestamp" in reasons["persons", "3"]
    assert "missing key properties ['id']" in reasons["persons", None]
    assert "value is out of range" in reasons["deals", "1"]
    assert (
        reasons["products", "1"]
        == "unknown stream 'products': target-cdp does not load this stream"
    )
    assert (
        next(r for r in rejected if r["record_key"] == "3")["raw_record"]["update_time"]
        == "2026-13-45T99:00:00Z"
    )
    assert sum("Unknown stream 'products'" in m for m in caplog.messages) == 1
    [run] = cdp.rows("sync_runs")
    assert run["counts"]["persons"]["rejected"] == 3
    assert run["counts"]["products"]["rejected"] == 2
    cdp.run(messages)
    assert len(cdp.rows("rejected_records")) == len(rejected)


def test_migration_adds_missing_columns_and_tables_without_losing_rows(cdp):
    cdp.run(stream_of("persons", [person(1, "a@acme.io")]))
    cdp.execute("alter table {s}.people drop column pipedrive_deleted_at")
    cdp.execute("alter table {s}.activities drop column pipedrive_deal_id")
    cdp.execute("drop table {s}.identity_conflicts")
    cdp.run(
        stream_of(
            "persons",
            [person(2, "b@acme.io"), person(1, "a@acme.io", is_deleted=True, update_time=ts(1))],
        )
    )
    rows = {p["pipedrive_person_id"]: p for p in cdp.rows("people")}
    assert sorted(rows) == [1, 2]
    assert rows[1]["pipedrive_deleted_at"] is not None
    assert "pipedrive_deal_id" in cdp.rows("activities")[0]
    assert cdp.rows("identity_conflicts") == []


def test_database_error_rolls_back_the_batch_and_emits_no_state(make_pg_cdp):
    cdp = make_pg_cdp()
    cdp.migrate()
    cdp.execute("alter table {s}.deals add constraint no_boom check (title <> 'boom')")
    messages = [
        *stream_of("persons", [person(1, "a@acme.io")]),
        *stream_of("deals", [deal(1, person_id=1), deal(2, person_id=1, title="boom")]),
        {"type": "STATE", "value": {"bookmarks": {"deals": ts(0)}}},
    ]
    with pytest.raises(
        CDPDatabaseError, match=r"writing a batch of stream 'deals'.*no_boom"
    ) as error:
        cdp.run(messages)
    assert "\n" not in str(error.value)
    assert len(cdp.rows("people")) == 1  # the persons batch was committed before
    assert cdp.rows("deals") == []
    assert cdp.rows("pipedrive_records", where="stream = 'deals'") == []
    assert [a for a in cdp.rows("activities") if a["source_record"].startswith("deal")] == []
    [run] = cdp.rows("sync_runs")
    assert run["status"] == "failed"
    assert "no_boom" in run["error"]
    cdp.execute("alter table {s}.deals drop constraint no_boom")
    assert cdp.run(messages) == [{"bookmarks": {"deals": ts(0)}}]
    assert len(cdp.rows("deals")) == 2


def test_passwords_never_reach_errors_or_logs(caplog):
    url = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/nowhere"
    with caplog.at_level(logging.DEBUG), pytest.raises(CDPDatabaseError) as error:
        run_target({"database_url": url}, stream_of("persons", [person(1, "a@acme.io")]))
    assert "s3cret-pw" not in str(error.value)
    assert "postgres:***@127.0.0.1:1" in str(error.value)
    assert "s3cret-pw" not in caplog.text


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"merge_strategy": "merge_everything"}, "merge_everything"),
        ({"database_url": "mysql://x@y/z"}, "Invalid setting `database_url`"),
        ({"blocked_identifiers": ["(unclosed"]}, "Invalid setting `blocked_identifiers`"),
        ({"max_associations": 0}, "max_associations"),
    ],
)
def test_bad_config_fails_with_a_clear_message(tmp_path, config, expected):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "target_cdp", "--config", str(path)],
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_default_database_is_warehouse_duckdb_and_cdp_people_is_unambiguous(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_target({}, stream_of("persons", [person(1, "a@acme.io")]))
    assert [p.name for p in tmp_path.iterdir()] == ["warehouse.duckdb"]
    engine = sa.create_engine("duckdb:///warehouse.duckdb")
    with engine.connect() as conn:  # what every user writes first
        assert conn.exec_driver_sql("select email from cdp.people").scalar() == "a@acme.io"
    engine.dispose()


def test_duckdb_file_is_created_even_when_named_like_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "output").mkdir()  # a missing folder is an error (test_target_database_url.py)
    run_target(
        {"database_url": "duckdb:///output/cdp.duckdb"},
        stream_of("persons", [person(1, "a@acme.io")]),
    )
    assert (tmp_path / "output" / "cdp.duckdb").exists()
    engine = sa.create_engine("duckdb:///output/cdp.duckdb")
    with engine.connect() as conn:  # file and schema are both "cdp": names are qualified
        assert conn.exec_driver_sql("select count(*) from cdp.cdp.people").scalar() == 1
    engine.dispose()


def test_duckdb_memory_is_bounded_and_out_of_memory_names_the_setting(duck):
    database = Database(Settings.from_config(duck.config()))
    with database.engine.connect() as conn:
        settings = conn.exec_driver_sql(
            "select current_setting('threads'), current_setting('memory_limit')"
        ).one()
    database.dispose()
    assert settings == (2, "91.5 MiB")  # 96MB, on every machine whatever its cores
    with pytest.raises(CDPDatabaseError, match=r"Out of Memory.*raise the duckdb_memory_limit"):
        duck.run(stream_of("persons", [person(1, "a@acme.io")]), duckdb_memory_limit="1MB")


def loose(stream: str, *fields: str) -> dict:
    """A SCHEMA message leaving these fields untyped (as a tap without types declares them)."""
    message = schema(stream)
    for name in fields:
        message["schema"]["properties"][name] = {}
    return message


def test_references_of_any_shape_never_fail_the_run(cdp):
    messages = [
        *stream_of("organizations", [organization(10)]),
        loose("persons", "org_id", "owner_id", "custom_fields"),
        record("persons", person(1, "a@acme.io", org_id={"value": 10, "name": "Org 10"})),
        record("persons", person(2, "b@acme.io", owner_id={"id": 3, "value": 3})),
        record("persons", person(3, "c@acme.io", org_id={"name": "no id"})),
        record("persons", person(4, "d@acme.io", org_id="10")),
        record("persons", person(5, "e@acme.io", custom_fields=["tier"])),
        record("persons", person(6, "f@acme.io", custom_fields="gold")),
        loose("deals", "person_id", "pipeline_id"),
        record("deals", deal(1, person_id={"value": 1, "name": "Person 1"})),
        record("deals", deal(2, pipeline_id={"id": 1})),
        record("deals", deal(3, person_id=True)),
        loose("notes", "person_id", "deal_id"),
        record("notes", note(1, person_id={"value": 2}, deal_id={"value": None})),
        record("notes", note(2, deal_id=[1])),
    ]
    cdp.run(messages)
    people = {p["pipedrive_person_id"]: p for p in cdp.rows("people")}
    assert sorted(people) == [1, 2]
    [org] = cdp.rows("organizations")
    assert (people[1]["pipedrive_org_id"], people[1]["organization_id"]) == (
        10,
        org["organization_id"],
    )
    assert people[2]["attributes"]["owner_id"] == 3
    [stored_deal] = cdp.rows("deals")
    assert (stored_deal["pipedrive_deal_id"], stored_deal["person_id"]) == (
        1,
        people[1]["person_id"],
    )
    [added] = [a for a in cdp.rows("activities") if a["activity_type"] == "pipedrive.note.added"]
    assert added["person_id"] == people[2]["person_id"]
    reasons = {(r["stream"], r["record_key"]): r["reason"] for r in cdp.rows("rejected_records")}
    assert reasons == {
        ("persons", "3"): "org_id must be an integer id or null, got object: {'name': 'no id'}",
        ("persons", "4"): "org_id must be an integer id or null, got string: '10'",
        ("persons", "5"): "custom_fields must be an object or null, got array: ['tier']",
        ("persons", "6"): "custom_fields must be an object or null, got string: 'gold'",
        ("deals", "2"): "pipeline_id must be an integer id or null, got object: {'id': 1}",
        ("deals", "3"): "person_id must be an integer id or null, got boolean: True",
        ("notes", "2"): "deal_id must be an integer id or null, got array: [1]",
    }
    [run] = cdp.rows("sync_runs")
    assert {s: run["counts"][s]["rejected"] for s in ("persons", "deals", "notes")} == {
        "persons": 4,
        "deals": 2,
        "notes": 1,
    }
