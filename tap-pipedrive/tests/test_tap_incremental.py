"""Incremental runs, deletes and the reconciliation pass (each test has a sandbox of its own)."""

from __future__ import annotations

from typing import Any

from tap_helpers import TapRun, by_id, catalog_for, run_tap, sandbox_config

INCREMENTAL = ("persons", "organizations", "deals", "activities", "notes")


def _boundary(run: TapRun, stream: str, state: dict[str, Any]) -> set[int]:
    """Records at the previous bookmark (re-read by design: updated_since is inclusive)."""
    bookmarks = state["bookmarks"][stream]
    values = {bookmarks.get("replication_key_value")} | {
        p.get("replication_key_value") for p in bookmarks.get("partitions", [])
    }
    return {r["id"] for r in run.records[stream] if r["update_time"] in values}


def test_incremental_run_returns_exactly_the_changed_records(sandbox: Any) -> None:
    config = sandbox_config(sandbox)
    first = run_tap(config)
    control = sandbox.control
    control.advance_clock(60)
    persons = first.ids("persons")[2:5]
    changed = {
        "persons": {control.update("persons", i, {"name": f"Changed {i}"})["id"] for i in persons},
        "organizations": {
            control.update("organizations", first.ids("organizations")[1], {"name": "Renamed"})[
                "id"
            ]
        },
        "deals": {control.update("deals", first.ids("deals")[3], {"title": "Bigger deal"})["id"]},
        "activities": {
            control.update("activities", first.ids("activities")[6], {"subject": "Follow-up"})["id"]
        },
        "notes": {
            control.update("notes", first.ids("notes")[5], {"content": "<p>edited</p>"})["id"]
        },
    }
    changed["persons"].add(control.create("persons", {"name": "New Person"})["id"])
    control.reset_stats()

    second = run_tap(config, state=first.state)

    for stream in INCREMENTAL:
        got = set(second.ids(stream))
        assert changed[stream] <= got, stream
        assert got - changed[stream] <= _boundary(second, stream, first.state), stream
    assert by_id(second.records["persons"])[persons[0]]["name"] == f"Changed {persons[0]}"
    # No reconciliation was due: records carry the active version, no ACTIVATE_VERSION.
    assert not any(second.activated[s] for s in INCREMENTAL)
    assert set(second.versions["persons"]) == {first.activated["persons"][0]}
    # One request per incremental list (two for deals: live + archived), whatever the size.
    operations = control.stats()["by_operation"]
    assert operations["GET /api/v2/persons"]["requests"] == 1
    assert operations["GET /api/v2/deals"]["requests"] == 1
    assert operations["GET /api/v1/notes"]["requests"] == 1


def test_archived_and_deleted_deals_are_marked(sandbox: Any) -> None:
    config = sandbox_config(sandbox)
    first = run_tap(config)
    control = sandbox.control
    live = [d for d in first.records["deals"] if not d["is_archived"] and not d["is_deleted"]]
    archived_id, deleted_id = live[0]["id"], live[1]["id"]
    control.advance_clock(60)
    control.update("deals", archived_id, {"is_archived": True})
    control.delete("deals", deleted_id)

    second = by_id(run_tap(config, state=first.state).records["deals"])

    assert second[archived_id]["is_archived"] is True
    assert second[deleted_id]["is_deleted"] is True
    assert second[deleted_id]["status"] == "deleted"


class VersionedTable:
    """What MeltanoLabs target-postgres does with versions: upsert rows with their version;
    ACTIVATE_VERSION v soft-deletes rows whose version is older than v."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}

    def apply(self, run: TapRun, stream: str) -> None:
        for message in run.messages:
            if message.get("stream") != stream:
                continue
            if message["type"] == "RECORD":
                record = message["record"]
                self.rows[record["id"]] = {"version": message.get("version"), "deleted": False}
            elif message["type"] == "ACTIVATE_VERSION":
                for row in self.rows.values():
                    if row["version"] is not None and row["version"] < message["version"]:
                        row["deleted"] = True

    def live(self) -> set[int]:
        return {i for i, row in self.rows.items() if not row["deleted"]}


def test_reconciliation_retires_deleted_records(sandbox: Any) -> None:
    config = sandbox_config(sandbox)
    control = sandbox.control
    first = run_tap(config)
    for stream in INCREMENTAL:
        # The first run is a pass: every record carries its version, activated at the end.
        (version,) = first.activated[stream]
        assert set(first.versions[stream]) == {version}
        last_record = max(
            i
            for i, m in enumerate(first.messages)
            if m.get("stream") == stream and m["type"] == "RECORD"
        )
        activation = next(
            i
            for i, m in enumerate(first.messages)
            if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
        )
        assert activation > last_record
    deleted = {
        "persons": first.ids("persons")[4],
        "organizations": first.ids("organizations")[2],
        "activities": first.ids("activities")[9],
        "notes": first.ids("notes")[1],
    }
    for kind, record_id in deleted.items():
        control.delete(kind, record_id)

    # Not due yet: an incremental run does not retire anything.
    second = run_tap(config, state=first.state)
    assert not any(second.activated[stream] for stream in INCREMENTAL)

    third = run_tap(sandbox_config(sandbox, reconciliation_interval_days=0), state=second.state)
    for stream, record_id in deleted.items():
        (version,) = third.activated[stream]
        assert version > first.activated[stream][0]
        assert record_id not in third.ids(stream)
        table = VersionedTable()
        for run in (first, second, third):
            table.apply(run, stream)
        expected = {r["id"] for r in control.dataset(stream, include_deleted=False)}
        if stream == "notes":
            expected = {r["id"] for r in control.dataset("notes") if r["active_flag"]}
        assert table.live() == expected, stream
        assert record_id in table.rows
        assert table.rows[record_id]["deleted"]
    state = third.state["bookmarks"]["persons"]
    assert "reconciliation" not in state
    assert state["table_version"] == third.activated["persons"][0]


def test_interrupted_reconciliation_resumes_with_the_same_version(sandbox: Any) -> None:
    config = sandbox_config(sandbox, page_size=20)
    catalog = catalog_for(config, {"persons"})
    # 10 tokens for personFields, then 3 pages of 20 persons: the pass stops at 60 of 90.
    first = run_tap({**config, "daily_token_budget": 40}, catalog=catalog)
    pass_version = first.state["bookmarks"]["persons"].get("reconciliation", {}).get("version")
    assert pass_version, "the budget stopped the run inside the persons pass"
    assert not first.activated["persons"]
    assert set(first.versions["persons"]) <= {pass_version}

    assert len(first.ids("persons")) == 60
    second = run_tap(config, state=first.state, catalog=catalog)
    assert second.activated["persons"] == [pass_version]
    assert set(second.versions["persons"]) == {pass_version}
    expected = {r["id"] for r in sandbox.control.dataset("persons", include_deleted=False)}
    assert set(first.ids("persons")) | set(second.ids("persons")) == expected
