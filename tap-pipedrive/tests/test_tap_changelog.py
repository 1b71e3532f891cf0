"""Field-level history: fetched only for objects that changed, only changes since last time."""

from __future__ import annotations

from typing import Any

from tap_helpers import catalog_for, run_tap, sandbox_config

SELECTED = {"persons", "person_changelog", "deals", "deal_changelog"}


def test_changelog_follows_the_changed_objects(sandbox: Any) -> None:
    config = sandbox_config(sandbox, start_date="2000-01-01")
    catalog = catalog_for(config, SELECTED)
    control = sandbox.control
    first = run_tap(config, catalog=catalog)
    persons = first.ids("persons")
    assert first.records["person_changelog"], "seeded history arrives on the first run"
    assert {c["person_id"] for c in first.records["person_changelog"]} <= set(persons)
    ids = [c["id"] for c in first.records["person_changelog"] + first.records["deal_changelog"]]
    assert len(ids) == len(set(ids))

    control.advance_clock(120)
    target = persons[3]
    control.update("persons", target, {"name": "Renamed Person"})
    deal = first.ids("deals")[2]
    control.update("deals", deal, {"title": "Renamed Deal"})
    control.reset_stats()
    second = run_tap(config, state=first.state, catalog=catalog)

    changed_persons = set(second.ids("persons"))
    assert target in changed_persons
    entries = second.records["person_changelog"]
    assert {e["person_id"] for e in entries} <= changed_persons
    renamed = [e for e in entries if e["person_id"] == target and e["field_key"] == "name"]
    assert [e["new_value"] for e in renamed] == ["Renamed Person"]
    bookmark = first.state["bookmarks"]["persons"]["replication_key_value"]
    assert all(e["time"] >= bookmark for e in entries)
    deal_entries = second.records["deal_changelog"]
    assert any(e["deal_id"] == deal and e["new_value"] == "Renamed Deal" for e in deal_entries)
    operations = control.stats()["by_operation"]
    assert operations["GET /api/v1/persons/{id}/changelog"]["requests"] == len(changed_persons)


def test_reconciliation_pass_does_not_refetch_every_changelog(sandbox: Any) -> None:
    config = sandbox_config(sandbox)
    catalog = catalog_for(config, SELECTED)
    first = run_tap(config, catalog=catalog)
    sandbox.control.advance_clock(120)
    target = first.ids("persons")[1]
    sandbox.control.update("persons", target, {"name": "Changed Again"})
    sandbox.control.reset_stats()
    second = run_tap(
        sandbox_config(sandbox, reconciliation_interval_days=0), state=first.state, catalog=catalog
    )
    assert len(second.ids("persons")) == len(first.ids("persons")), "a full pass"
    assert second.activated["persons"]
    operations = sandbox.control.stats()["by_operation"]
    fetched = operations["GET /api/v1/persons/{id}/changelog"]["requests"]
    assert 1 <= fetched <= 3, "only the changed person (and the inclusive boundary)"
    assert {e["person_id"] for e in second.records["person_changelog"]} <= {
        target,
        *first.ids("persons"),
    }
