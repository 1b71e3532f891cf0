"""Runs: byte-identical replays, state only for committed work, crash and resume."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from target_cdp.target import TargetCDP
from target_messages import (
    NOW,
    activate,
    deal,
    lines,
    note,
    organization,
    pd_activity,
    person,
    record,
    schema,
    state,
    stream_of,
    ts,
)

VERSION = int(NOW.timestamp() * 1000)
RUN_METADATA = {"sync_runs": None, "rejected_records": {"first_run_id"}}


def everything() -> list[dict]:
    """Input touching every table: catalogs, fields, all object streams, rejects, deletes."""
    return [
        *stream_of("users", [{"id": 1, "name": "Owner", "email": "o@acme.io"}]),
        *stream_of("pipelines", [{"id": 1, "name": "Sales"}]),
        *stream_of(
            "stages", [{"id": s, "name": f"S{s}", "pipeline_id": 1, "order_nr": s} for s in (1, 2)]
        ),
        *stream_of("activity_types", [{"id": 1, "name": "Call", "key_string": "call"}]),
        schema("person_fields"),
        record(
            "person_fields",
            {
                "field_code": "abc123",
                "field_name": "Tier",
                "field_type": "enum",
                "is_custom_field": True,
                "options": [{"id": 1, "label": "gold"}],
                "readable_name": "tier",
            },
        ),
        *stream_of("organizations", [organization(10), organization(11, is_deleted=True)]),
        schema("persons", ("tier",)),
        *(
            record(
                "persons",
                person(i, f"p{i}@acme.io", org_id=10, custom_fields={"tier": "gold"}),
                VERSION,
            )
            for i in range(1, 6)
        ),
        record("persons", person(6, "p1@ACME.io", first_name="Dup")),
        record("persons", {**person(7, "x@acme.io"), "id": "bad"}),
        activate("persons", VERSION),
        *stream_of(
            "deals",
            [
                deal(
                    100,
                    person_id=1,
                    org_id=10,
                    status="won",
                    won_time=ts(3),
                    stage_change_time=ts(4),
                    stage_id=2,
                ),
                deal(101, person_id=2, status="lost", lost_time=ts(2), lost_reason="price"),
                deal(102, person_id=9, status="deleted"),
                deal(103, person_id=3, add_time=ts(300), update_time=ts(200)),
            ],
        ),
        *stream_of(
            "notes", [note(1, person_id=1, deal_id=100), note(2, org_id=10, active_flag=False)]
        ),
        *stream_of(
            "activities", [pd_activity(1, person_id=2, done=True, marked_as_done_time=ts(1))]
        ),
        *stream_of("leads", [{"id": 1, "value": "?"}]),
        state({"bookmarks": {"persons": {"replication_key_value": ts(0)}}}),
    ]


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
