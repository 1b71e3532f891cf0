"""Runs: byte-identical replays, state only for committed work, crash and resume."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from target_cdp.target import TargetCDP
from target_messages import (
    VERSION,
    activate,
    everything,
    lines,
    person,
    record,
    schema,
    state,
)

RUN_METADATA = {"sync_runs": None, "rejected_records": {"first_run_id"}}


def dump(cdp) -> dict[str, list[tuple]]:
    """Every CDP table as sorted tuples of text (bytes as the database renders them)."""
    engine = sa.create_engine(cdp.url)
    database_tables = sa.inspect(engine).get_table_names(schema=cdp.schema)
    out = {}
    with engine.connect() as conn:
        for table in sorted(database_tables):
            if table in RUN_METADATA and RUN_METADATA[table] is None:
                continue
            columns = [
                c["name"]
                for c in sa.inspect(conn).get_columns(table, schema=cdp.schema)
                if c["name"] not in (RUN_METADATA.get(table) or set())
            ]
            select = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
            rows = conn.exec_driver_sql(f"SELECT {select} FROM {cdp.schema}.{table}").all()
            out[table] = sorted(tuple(r) for r in rows)
    engine.dispose()
    return out


def test_replay_is_byte_identical(cdp):
    messages = everything()
    cdp.run(messages)
    first = dump(cdp)
    assert len(first["people"]) == 6
    assert all(
        first[t] for t in ("activities", "associations", "permission_decisions", "pipedrive_fields")
    )
    assert first["identity_conflicts"]
    cdp.run(messages)
    assert dump(cdp) == first
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[1]["counts"]["persons"]["inserted"] == 0
    assert runs[1]["counts"]["persons"]["unchanged"] == 5
    assert runs[1]["counts"]["persons"]["skipped"] == 1  # older than its tombstone


class TapDiedError(RuntimeError):
    """The tap died mid-stream."""


def crashing(text: str, after: int):
    for number, line in enumerate(io.StringIO(text)):
        if number == after:
            raise TapDiedError
        yield line


def test_state_only_after_commit_and_resume_after_crash(duck, tmp_path, capsys):
    messages = everything()
    config = duck.config(batch_size_rows=2)
    first_person = next(i for i, m in enumerate(messages) if m.get("stream") == "persons")
    with pytest.raises(TapDiedError):
        TargetCDP(config=config).listen(crashing(lines(messages), after=first_person + 4))
    assert capsys.readouterr().out == ""  # no state for a run that did not finish
    assert 0 < len(duck.rows("people")) < 6  # some batches were committed
    assert [r["status"] for r in duck.rows("sync_runs")] == ["failed"]
    TargetCDP(config=config).listen(io.StringIO(lines(messages)))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert emitted == [messages[-1]["value"]]
    reference = duck.__class__(duck.url.replace("warehouse", "reference"), duck.schema)
    reference.run(messages)
    assert dump(duck) == dump(reference)


def test_state_is_emitted_once_after_all_batches(duck, capsys):
    messages = [
        schema("persons"),
        *(
            m
            for i in range(1, 7)
            for m in (record("persons", person(i, f"{i}@acme.io")), state({"n": i}))
        ),
    ]
    TargetCDP(config=duck.config(batch_size_rows=2)).listen(io.StringIO(lines(messages)))
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()] == [{"n": 6}]
    assert len(duck.rows("people")) == 6


def catalogs(version: int, stage_name: str = "Lead") -> list[dict]:
    """A reconciliation pass over a user, a stage and a person field."""
    field = {"field_code": "abc123", "field_name": "Tier", "field_type": "enum"}
    stage = {"id": 1, "name": stage_name, "pipeline_id": 1, "order_nr": 1}
    passes = (("users", {"id": 1, "name": "Owner"}), ("stages", stage), ("person_fields", field))
    return [
        message
        for stream, data in passes
        for message in (schema(stream), record(stream, data, version), activate(stream, version))
    ]


def test_unchanged_catalog_rows_are_counted_unchanged_in_every_pass(cdp):
    cdp.run(catalogs(VERSION))
    first = {t: cdp.rows(t) for t in ("users", "stages", "pipedrive_fields")}
    cdp.run(catalogs(VERSION + 1000))  # the next pass: same rows, a new table version
    counts = cdp.rows("sync_runs", order_by="started_at")[-1]["counts"]
    for stream in ("users", "stages", "person_fields"):
        assert (counts[stream]["unchanged"], counts[stream]["updated"]) == (1, 0), stream
    for table, rows in first.items():
        moved_on = [{**row, "table_version": VERSION + 1000} for row in rows]
        assert cdp.rows(table) == moved_on, table  # kept by ACTIVATE_VERSION, nothing else
    cdp.run(catalogs(VERSION + 2000, stage_name="Qualified"))
    counts = cdp.rows("sync_runs", order_by="started_at")[-1]["counts"]
    assert (counts["stages"]["updated"], counts["users"]["unchanged"]) == (1, 1)
    assert cdp.rows("stages")[0]["name"] == "Qualified"


def test_every_copy_of_a_catalog_row_in_a_batch_is_counted_and_the_last_is_stored(cdp):
    cdp.run(
        [
            schema("users"),
            record("users", {"id": 1, "name": "Owner"}),
            record("users", {"id": 1, "name": "Owner, renamed"}),
        ]
    )
    counts = cdp.rows("sync_runs")[-1]["counts"]["users"]
    assert (counts["inserted"], counts["unchanged"]) == (1, 1)  # two records received
    assert [row["name"] for row in cdp.rows("users")] == ["Owner, renamed"]


def test_a_run_with_only_state_is_recorded_and_purges(cdp):
    cdp.run([schema("persons"), record("persons", person(1, "a@acme.io"))])  # created 30 days ago
    bookmark = {"bookmarks": {"persons": {"replication_key_value": "2026-01-01T00:00:00Z"}}}
    states = cdp.run([state(bookmark)], activity_retention_days=10)
    assert states == [bookmark]
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[1]["counts"]["persons"]["purged"] == 1
    assert cdp.rows("activities") == []
