"""The README's selective sync through Meltano, into a CDP that already holds everything.

Run 1 is the main tap (`meltano run tap-pipedrive target-cdp`): every person and deal. Then
Pipedrive changes: a person with label 1 and a deal of pipeline 1 (both kept by the filter) are
edited, a person without label 1 is edited (left out by the filter), a deal of pipeline 1 is
deleted. Run 2 is `meltano run tap-pipedrive-sales-pipeline target-cdp` (meltano.yml's
`__filter__` example) with a reconciliation pass forced (interval 0 days) on a state of its own.

A record the filter leaves out is "not synced": it stays in the CDP as run 1 left it, never
marked deleted and with no `*.deleted` activity. What the filter keeps is updated, and the deal
Pipedrive itself reports deleted (`status: deleted`) is the one real delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_meltano import MeltanoProject, read_rows
from pipedrive_sandbox.testing import start_sandbox

pytestmark = [pytest.mark.meltano]

FILTERED_TAP = "tap-pipedrive-sales-pipeline"


def _kept_person(person: dict[str, Any]) -> bool:
    return 1 in (person.get("label_ids") or [])


@dataclass
class Cdp:
    """The rows the two runs are judged by."""

    people: dict[int, dict[str, Any]]
    deals: dict[int, dict[str, Any]]
    deleted_activities: set[tuple[str, str]]

    @classmethod
    def read(cls, url: str) -> Cdp:
        people = read_rows(url, "select * from cdp.people where pipedrive_person_id is not null")
        deals = read_rows(url, "select * from cdp.deals")
        activities = read_rows(
            url,
            "select activity_type, source_record from cdp.activities"
            " where activity_type like '%.deleted'",
        )
        return cls(
            people={r["pipedrive_person_id"]: r for r in people},
            deals={r["pipedrive_deal_id"]: r for r in deals},
            deleted_activities={(a["activity_type"], a["source_record"]) for a in activities},
        )


@dataclass
class Scenario:
    full: Cdp
    filtered: Cdp
    changes: dict[str, int]
    left_out: dict[str, set[int]]
    """Live persons and deals the filter leaves out (by Pipedrive id)."""
    state: dict[str, Any]
    log: str


def _change_pipedrive(sandbox: Any) -> dict[str, int]:
    control = sandbox.control
    persons = control.dataset("persons", include_deleted=False)
    deals = [d for d in control.dataset("deals", include_deleted=False) if d["pipeline_id"] == 1]
    kept = next(p for p in persons if _kept_person(p))
    left_out = next(p for p in persons if not _kept_person(p))
    edited_deal, deleted_deal = deals[0], deals[1]
    control.advance_clock(60)
    control.update("persons", kept["id"], {"first_name": "Kept"})
    control.update("persons", left_out["id"], {"first_name": "LeftOut"})
    control.update("deals", edited_deal["id"], {"title": "Bigger deal"})
    control.delete("deals", deleted_deal["id"])
    return {
        "kept_person": kept["id"],
        "left_out_person": left_out["id"],
        "edited_deal": edited_deal["id"],
        "deleted_deal": deleted_deal["id"],
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """The two runs, into DuckDB (the retiring is target-cdp's one SQLAlchemy code path on both
    engines; what is under test is what the tap sends)."""
    work_dir = tmp_path_factory.mktemp("selective-sync")
    url = f"duckdb:///{work_dir / 'warehouse.duckdb'}"
    with start_sandbox(seed=11, scale=300) as sandbox:
        env = {
            "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
            "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
            "TARGET_CDP_DATABASE_URL": url,
        }
        project = MeltanoProject("dev", work_dir, env)
        project.run("run", "tap-pipedrive", "target-cdp")
        full = Cdp.read(url)
        control = sandbox.control
        left_out = {
            "persons": {
                p["id"]
                for p in control.dataset("persons", include_deleted=False)
                if not _kept_person(p)
            },
            "deals": {
                d["id"]
                for d in control.dataset("deals", include_deleted=False)
                if d["pipeline_id"] != 1
            },
        }
        changes = _change_pipedrive(sandbox)
        log = project.run(
            "run",
            FILTERED_TAP,
            "target-cdp",
            extra_env={"TAP_PIPEDRIVE_SALES_PIPELINE_RECONCILIATION_INTERVAL_DAYS": "0"},
        )
        state = project.state(f"{project.environment}:{FILTERED_TAP}-to-target-cdp")
        yield Scenario(full, Cdp.read(url), changes, left_out, state, log)


def test_the_filter_marks_nothing_deleted(scenario: Scenario) -> None:
    full, filtered = scenario.full, scenario.filtered
    assert scenario.left_out["persons"]
    assert scenario.left_out["deals"]
    assert scenario.left_out["persons"] <= {
        i for i, r in full.people.items() if not r["is_deleted"]
    }
    assert scenario.left_out["deals"] <= {i for i, r in full.deals.items() if not r["is_deleted"]}
    assert set(filtered.people) == set(full.people)
    for pipedrive_id, row in filtered.people.items():
        assert row["is_deleted"] == full.people[pipedrive_id]["is_deleted"], pipedrive_id
    deleted_deal = scenario.changes["deleted_deal"]
    assert set(filtered.deals) == set(full.deals)
    for pipedrive_id, row in filtered.deals.items():
        expected = full.deals[pipedrive_id]["is_deleted"] or pipedrive_id == deleted_deal
        assert row["is_deleted"] == expected, pipedrive_id


def test_the_only_new_deleted_activity_is_the_real_delete(scenario: Scenario) -> None:
    new = scenario.filtered.deleted_activities - scenario.full.deleted_activities
    assert new == {("pipedrive.deal.deleted", f"deal:{scenario.changes['deleted_deal']}")}


def test_what_the_filter_keeps_is_updated_and_the_rest_is_left_as_it_was(
    scenario: Scenario,
) -> None:
    changes, full, filtered = scenario.changes, scenario.full, scenario.filtered
    assert filtered.people[changes["kept_person"]]["first_name"] == "Kept"
    assert filtered.deals[changes["edited_deal"]]["title"] == "Bigger deal"
    left_out = changes["left_out_person"]
    assert filtered.people[left_out]["first_name"] == full.people[left_out]["first_name"]
    assert filtered.people[left_out]["first_name"] != "LeftOut"


def test_the_filtered_streams_made_no_pass(scenario: Scenario) -> None:
    bookmarks = scenario.state["singer_state"]["bookmarks"]
    for stream in ("persons", "deals"):
        assert "reconciliation" not in bookmarks[stream], stream
        assert "last_reconciled_at" not in bookmarks[stream], stream
        assert f"No reconciliation pass for '{stream}'" in scenario.log, stream
    # Streams the filter does not touch are complete and still reconciled.
    assert "last_reconciled_at" in bookmarks["organizations"]
