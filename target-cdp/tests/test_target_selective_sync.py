"""Selective sync in target-cdp's own stream maps: a record a map leaves out is not synced,
never deleted. A complete versioned pass through a filter (or a changed key) retires nothing."""

from __future__ import annotations

import logging

import pytest
from target_messages import NOW, activate, person, record, schema, ts

V1, V2 = (int(NOW.timestamp() * 1000) - hours * 3_600_000 for hours in (2, 1))


def unfiltered() -> list[dict]:
    """Persons 1-3 already in the CDP, synced without a stream map."""
    return [schema("persons"), *(record("persons", person(i, f"p{i}@acme.io")) for i in (1, 2, 3))]


def full_pass(version: int, *, activate_first: bool = False) -> list[dict]:
    """Persons 1-3 as a complete versioned pass closed (or opened) by ACTIVATE_VERSION."""
    records = [
        record("persons", person(i, f"p{i}@acme.io", update_time=ts(1)), version) for i in (1, 2, 3)
    ]
    if activate_first:
        return [schema("persons"), activate("persons", version), *records]
    return [schema("persons"), *records, activate("persons", version)]


@pytest.mark.parametrize("activate_first", [False, True])
@pytest.mark.parametrize(
    "stream_map",
    [
        {"__filter__": "record['id'] != 2"},
        {"__key_properties__": ["id", "name"]},
    ],
)
def test_a_filtered_stream_retires_nothing(cdp, caplog, stream_map, activate_first):
    cdp.run(unfiltered())
    with caplog.at_level(logging.WARNING):
        cdp.run(full_pass(V2, activate_first=activate_first), stream_maps={"persons": stream_map})
    people = cdp.rows("people", order_by="pipedrive_person_id")
    assert [(p["pipedrive_person_id"], p["is_deleted"]) for p in people] == [
        (1, False),
        (2, False),
        (3, False),
    ]
    assert cdp.rows("activities", where="activity_type like '%deleted%'") == []
    [*_, run] = cdp.rows("sync_runs", order_by="started_at")
    assert run["counts"]["persons"]["deleted"] == 0
    [warning] = [r.getMessage() for r in caplog.records if "ACTIVATE_VERSION" in r.getMessage()]
    assert "'persons'" in warning
    assert "stream_maps" in warning


def test_a_map_that_keeps_every_record_still_retires(cdp):
    cdp.run(unfiltered())
    messages = full_pass(V1)
    messages[2:3] = []  # person 2 is gone from Pipedrive
    cdp.run(messages, stream_maps={"persons": {"name": "name.upper()"}})
    people = cdp.rows("people", order_by="pipedrive_person_id")
    assert [(p["pipedrive_person_id"], p["is_deleted"]) for p in people] == [
        (1, False),
        (2, True),
        (3, False),
    ]
