"""Selective sync never deletes: a record the tap's own config leaves out is "not synced".

An ACTIVATE_VERSION tells the target that every row of the stream not sent with that version is
gone from Pipedrive. The tap sends one only when the run's records are the whole list Pipedrive
holds: never after a stream map ``__filter__`` (nor a ``__source__`` copy with one), a
``__key_properties__`` other than Pipedrive's key, a ``start_date`` (records last updated
before it are never read), or a child stream read per parent. Deletes Pipedrive reports
itself (deals with ``status: deleted``) are records and still flow.
"""

from __future__ import annotations

from typing import Any

import pytest
from tap_helpers import TapRun, by_id, catalog_for, run_tap, sandbox_config
from tap_pipedrive import reconciliation

SALES_PIPELINE = {
    "deals": {"__filter__": "record.get('pipeline_id') == 1"},
    "persons": {"__filter__": "1 in (record.get('label_ids') or [])"},
}
"""The README's selective sync (meltano.yml's ``tap-pipedrive-sales-pipeline``)."""


class Downstream:
    """An upserting, versioned target (target-cdp and MeltanoLabs target-postgres): a record
    keeps the version it came with (a record without one keeps the stored one);
    ACTIVATE_VERSION v retires every row of the stream whose version is older than v."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Any, dict[str, Any]]] = {}

    def apply(self, run: TapRun) -> Downstream:
        for message in run.messages:
            table = self.rows.setdefault(message.get("stream", ""), {})
            if message["type"] == "RECORD":
                record = message["record"]
                old = table.get(record["id"], {})
                version = message.get("version", old.get("version"))
                table[record["id"]] = {"record": record, "version": version, "retired": False}
            elif message["type"] == "ACTIVATE_VERSION":
                for row in table.values():
                    if row["version"] is None or row["version"] < message["version"]:
                        row["retired"] = True
        return self

    def live(self, stream: str) -> set[Any]:
        return {i for i, row in self.rows.get(stream, {}).items() if not row["retired"]}


def _in_filter(person: dict[str, Any]) -> bool:
    return 1 in (person.get("label_ids") or [])


def test_the_readme_filter_into_a_full_cdp_retires_nothing(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, reconciliation_interval_days=0)
    catalog = catalog_for(config, {"persons", "deals", "organizations"})
    full = run_tap(config, catalog=catalog)
    assert full.activated["persons"]  # the unfiltered tap does reconcile

    filtered_config = {**config, "stream_maps": SALES_PIPELINE}
    first = run_tap(filtered_config, catalog=catalog)
    second = run_tap(filtered_config, state=first.state, catalog=catalog)

    cdp = Downstream().apply(full).apply(first).apply(second)
    for stream in ("persons", "deals"):
        assert cdp.live(stream) == set(full.ids(stream)), stream
        for run in (first, second):
            assert not run.activated[stream], stream
            assert set(run.versions[stream]) <= {None}, stream  # stored versions kept
        bookmark = second.state["bookmarks"][stream]
        assert reconciliation.IN_PROGRESS not in bookmark
        assert reconciliation.LAST_RECONCILED_AT not in bookmark
    assert first.ids("persons")
    assert all(_in_filter(p) for p in first.records["persons"])
    assert {d["pipeline_id"] for d in first.records["deals"]} == {1}
    # An unfiltered stream of the same run is complete: its pass still activates.
    assert first.activated["organizations"]
    assert second.activated["organizations"]


def test_a_filtered_run_still_carries_changes_and_pipedrive_deletes(sandbox: Any) -> None:
    config = sandbox_config(sandbox, reconciliation_interval_days=0, stream_maps=SALES_PIPELINE)
    catalog = catalog_for(config, {"persons", "deals"})
    first = run_tap(config, catalog=catalog)
    control = sandbox.control
    control.advance_clock(60)
    person = first.records["persons"][0]["id"]
    deal = next(d["id"] for d in first.records["deals"] if d["status"] != "deleted")
    control.update("persons", person, {"name": "Renamed in the pipeline"})
    control.delete("deals", deal)

    second = run_tap(config, state=first.state, catalog=catalog)

    assert by_id(second.records["persons"])[person]["name"] == "Renamed in the pipeline"
    gone = by_id(second.records["deals"])[deal]
    assert gone["is_deleted"] is True
    assert gone["status"] == "deleted"
    assert not second.activated["deals"]


def test_a_pass_interrupted_then_filtered_is_dropped_and_restarted(sandbox: Any) -> None:
    config = sandbox_config(sandbox, page_size=20)
    catalog = catalog_for(config, {"persons"})
    # 10 tokens for personFields, then 3 pages of 20 persons: the pass stops at 60 of 90.
    interrupted = run_tap({**config, "daily_token_budget": 40}, catalog=catalog)
    bookmark = interrupted.state["bookmarks"]["persons"]
    version = bookmark[reconciliation.IN_PROGRESS]["version"]

    # A filtered run in the middle: the pass would miss what it leaves out, so it is dropped.
    stream_maps = {"persons": SALES_PIPELINE["persons"]}
    filtered = run_tap(
        {**config, "stream_maps": stream_maps}, state=interrupted.state, catalog=catalog
    )
    assert not filtered.activated["persons"]
    assert reconciliation.IN_PROGRESS not in filtered.state["bookmarks"]["persons"]

    # Unfiltered again: a new pass starts at once and reads everything before activating.
    restarted = run_tap(config, state=filtered.state, catalog=catalog)
    (new_version,) = restarted.activated["persons"]
    assert new_version > version
    live = {p["id"] for p in sandbox.control.dataset("persons", include_deleted=False)}
    assert set(restarted.ids("persons")) == live
    cdp = Downstream().apply(interrupted).apply(filtered).apply(restarted)
    assert cdp.live("persons") == live


def test_start_date_does_not_retire_older_records(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, reconciliation_interval_days=0)
    catalog = catalog_for(config, {"persons", "pipelines"})
    full = run_tap(config, catalog=catalog)
    times = sorted(p["update_time"] for p in full.records["persons"])
    start_date = times[len(times) // 2]

    later = run_tap({**config, "start_date": start_date}, state=full.state, catalog=catalog)

    assert later.ids("persons")
    assert min(p["update_time"] for p in later.records["persons"]) >= start_date
    assert not later.activated["persons"]
    cdp = Downstream().apply(full).apply(later)
    assert cdp.live("persons") == set(full.ids("persons"))
    # A FULL_TABLE list ignores start_date: it is read whole and still activated.
    assert later.activated["pipelines"]


def test_a_filtered_full_table_stream_is_not_activated(shared_sandbox: Any) -> None:
    config = sandbox_config(
        shared_sandbox, stream_maps={"pipelines": {"__filter__": "record['id'] == 1"}}
    )
    run = run_tap(config, catalog=catalog_for(config, {"pipelines", "stages"}))
    assert run.ids("pipelines") == [1]
    assert not run.activated["pipelines"]
    assert run.activated["stages"]


@pytest.mark.parametrize(
    "stream_maps",
    [
        {"vip_persons": {"__source__": "persons", "__filter__": "record['id'] < 10"}},
        {"person?": {"__filter__": "record['id'] < 10"}},
        {"persons": {"__key_properties__": ["name"]}},
    ],
    ids=["filtered-copy", "wildcard-filter", "other-key"],
)
def test_maps_that_change_what_reaches_the_target_block_activation(
    shared_sandbox: Any, stream_maps: dict[str, Any]
) -> None:
    config = sandbox_config(shared_sandbox, stream_maps=stream_maps)
    run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert run.records["persons"]
    assert not any(run.activated.values())


def test_an_alias_or_a_projection_still_activates(shared_sandbox: Any) -> None:
    stream_maps = {"persons": {"__alias__": "people", "__else__": None, "id": "id", "name": "name"}}
    config = sandbox_config(shared_sandbox, stream_maps=stream_maps)
    run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert set(run.records["people"][0]) == {"id", "name"}
    (version,) = run.activated["people"]
    assert set(run.versions["people"]) == {version}
    live = shared_sandbox.control.dataset("persons", include_deleted=False)
    assert set(run.ids("people")) == {p["id"] for p in live}


@pytest.mark.parametrize(
    ("stream_maps", "options", "reason"),
    [
        (None, {}, None),
        ({"deals": {"__filter__": "True"}}, {}, None),
        ({"persons": {"name": "md5(name)", "__alias__": "people"}}, {}, None),
        ({"persons": None, "__else__": None}, {}, None),
        ({"persons": {"__key_properties__": ["id"]}}, {}, None),
        ({"persons": {"__filter__": "False"}}, {}, "stream map 'persons' filters"),
        ({"pers*": {"__filter__": "False"}}, {}, "stream map 'pers*' filters"),
        ({"vip": {"__source__": "persons", "__filter__": "1"}}, {}, "stream map 'vip' filters"),
        ({"persons": {"__key_properties__": []}}, {}, "replaces the key ['id'] with []"),
        (None, {"start_date": "2026-01-01"}, "start_date 2026-01-01"),
        (None, {"is_child": True}, "read per parent"),
    ],
)
def test_why_incomplete(
    stream_maps: dict[str, Any] | None, options: dict[str, Any], reason: str | None
) -> None:
    found = reconciliation.why_incomplete("persons", ["id"], stream_maps, **options)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found


def test_forgo_drops_the_pass_and_makes_the_next_complete_run_reconcile() -> None:
    state: dict[str, Any] = {
        reconciliation.TABLE_VERSION: 100,
        reconciliation.LAST_RECONCILED_AT: "2026-01-01T00:00:00Z",
        reconciliation.IN_PROGRESS: {"version": 200, "started_at": "2026-01-02T00:00:00Z"},
    }
    live: dict[str, Any] = {"replication_key_value": "2026-01-03T00:00:00Z"}
    archived: dict[str, Any] = {reconciliation.RECONCILED_VERSION: 200}
    reconciliation.forgo(state, [live, archived])
    assert state == {reconciliation.TABLE_VERSION: 200}  # the next pass gets a later version
    assert live == {"replication_key_value": "2026-01-03T00:00:00Z"}  # no gap, no re-read
    assert archived == {}


def test_dropping_update_time_keeps_the_bookmark_and_the_pass(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, stream_maps={"persons": {"update_time": "__NULL__"}})
    run = run_tap(config, catalog=catalog_for(config, {"persons"}))
    assert "update_time" not in run.records["persons"][0]
    assert run.activated["persons"]  # every record still reaches the target under its id
    live = shared_sandbox.control.dataset("persons", include_deleted=False)
    times = [p["update_time"] for p in live]
    assert run.state["bookmarks"]["persons"]["replication_key_value"] == max(times)
