"""tap-cdp on DuckDB and PostgreSQL, over a CDP and audiences built by target-cdp's tables and
the transform/ dbt project.

One history per engine: build at ``T0``, tap run 1; changes, build at ``T0 + 2 days``, run 2;
a new subscriber, a rebuild at the same ``T0 + 2 days`` (its entry shares ``changed_at`` with
run 2's changes and its id sorts before theirs), run 3; run 4 on nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import transform_scenario as scenario
from tap_cdp.database import check_database_url, create_engine, database_url_problem
from tap_cdp_helpers import TapRun, catalog_for, run_tap
from transform_cdp import CdpDatabase
from transform_dbt import DbtProject

SECOND = scenario.T0 + 2 * scenario.DAY


@dataclass
class History:
    config: dict[str, Any]
    runs: list[TapRun]
    membership: list[dict[str, Any]]  # audience_membership after the last build
    project: DbtProject


@pytest.fixture(scope="module")
def history(
    engine: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> History:
    work_dir = tmp_path_factory.mktemp(f"tap-cdp-{engine}")
    if engine == "duckdb":
        # A file named like the CDP schema: DuckDB's two-part names are ambiguous there.
        database = CdpDatabase("duckdb", str(work_dir / "cdp.duckdb"))
        project = DbtProject(database, "audiences", work_dir)
        config = {"database_url": f"duckdb:///{database.location}"}
    else:
        pg = request.getfixturevalue("pg_database")
        database = CdpDatabase("postgres", pg, "tap_cdp_cdp")
        project = DbtProject(database, "tap_cdp_audiences", work_dir)
        config = {
            "database_url": pg.replace("postgresql://", "postgresql+psycopg://", 1),
            "schema": "tap_cdp_cdp",
            "audience_schema": "tap_cdp_audiences",
        }
    database.create_cdp_tables()
    cdp = scenario.initial_cdp()
    runs = []

    def build_and_run(as_of: Any) -> None:
        database.load(cdp.tables())
        project.run("build", as_of=as_of)
        runs.append(run_tap(config, runs[-1].state if runs else None))

    build_and_run(scenario.T0)
    scenario.change_before_second_build(cdp)
    build_and_run(SECOND)
    cdp.person("a_late_subscriber")
    cdp.summarise("a_late_subscriber", "email.opened", scenario.days_ago(45))
    build_and_run(SECOND)
    runs.append(run_tap(config, runs[-1].state))
    return History(config, runs, project.rows("audience_membership"), project)


def expected_changes(membership: list[dict[str, Any]]) -> set[str]:
    entered = {f"{row['membership_id']}:entered" for row in membership}
    exited = {f"{row['membership_id']}:exited" for row in membership if row["exited_at"]}
    return entered | exited


def test_every_change_is_emitted_exactly_once_across_runs(history: History) -> None:
    emitted = [change_id for run in history.runs for change_id in run.change_ids()]
    assert len(emitted) == len(set(emitted))
    assert set(emitted) == expected_changes(history.membership)
    assert history.runs[3].change_ids() == []


def test_a_rebuild_at_the_same_as_of_adds_only_its_own_change(history: History) -> None:
    """Run 3 reads changed_at >= the bookmark (SECOND) and skips what run 2 sent there."""
    second, third = history.runs[1], history.runs[2]
    at_second = {r["changed_at"] for r in second.records["audience_changes"]}
    assert at_second == {SECOND.isoformat()}
    assert third.change_ids() == ["slipping_subscribers:a_late_subscriber:1:entered"]
    assert third.records["audience_changes"][0]["changed_at"] == SECOND.isoformat()
    bookmark = third.state["bookmarks"]["audience_changes"]
    assert bookmark["replication_key_value"] == SECOND.isoformat()
    assert set(bookmark["sent_at_bookmark"]["change_ids"]) == {
        *second.change_ids(),
        *third.change_ids(),
    }


def test_the_first_run_emits_every_entry_in_changed_at_order(history: History) -> None:
    first = history.runs[0].records["audience_changes"]
    assert {r["event"] for r in first} == {"entered"}
    assert {r["changed_at"] for r in first} == {scenario.T0.isoformat()}
    assert [r["change_id"] for r in first] == sorted(r["change_id"] for r in first)


def test_exits_carry_both_times(history: History) -> None:
    changes = {r["change_id"]: r for r in history.runs[1].records["audience_changes"]}
    # slip_45 unsubscribed before the second build: it left slipping_subscribers.
    exit_ = changes["slipping_subscribers:slip_45:1:exited"]
    assert exit_["event"] == "exited"
    assert exit_["entered_at"] == scenario.T0.isoformat()
    assert exit_["exited_at"] == exit_["changed_at"] == SECOND.isoformat()
    assert exit_["person"]["person_id"] == "slip_45"
    assert exit_["row"] == {}


def test_person_audience_records_carry_the_person_and_the_row(history: History) -> None:
    changes = {r["change_id"]: r for r in history.runs[0].records["audience_changes"]}
    record = changes["repeat_customers:rc_two:1:entered"]
    assert record["member_kind"] == "person"
    assert record["person_id"] == "rc_two"
    assert record["deal_id"] is None
    assert record["deal"] is None
    person = history.runs[0].schemas["audience_changes"]["schema"]["properties"]["person"]
    assert {"email", "first_name", "pipedrive_person_id", "attributes"} <= person[
        "properties"
    ].keys()
    assert record["person"]["person_id"] == "rc_two"
    assert record["person"]["email"]
    assert isinstance(record["person"]["attributes"], dict)
    assert record["row"]["won_deals"] == 2
    assert record["row"]["person_id"] == "rc_two"


def test_deal_audience_records_carry_the_deal_and_its_person(history: History) -> None:
    changes = {r["change_id"]: r for r in history.runs[0].records["audience_changes"]}
    record = changes["engaged_deals:d_note_29:1:entered"]
    assert record["member_kind"] == "deal"
    assert record["deal_id"] == "d_note_29"
    assert record["deal"]["deal_id"] == "d_note_29"
    assert record["deal"]["stage_id"] == 12
    assert record["person_id"] == "owner"
    assert record["person"]["person_id"] == "owner"
    assert record["row"]["deal_id"] == "d_note_29"
    no_person = changes["engaged_deals:d_at_window_start:1:entered"]
    assert no_person["person_id"] is None
    assert no_person["person"] is None


def test_cdp_tables_and_audience_models_are_full_table_streams(history: History) -> None:
    audiences = history.config.get("audience_schema", "audiences")
    schema = history.config.get("schema", "cdp")
    people, model = f"{schema}-people", f"{audiences}-repeat_customers"
    catalog = {e["tap_stream_id"]: e for e in catalog_for(history.config, set())["streams"]}
    assert {"audience_changes", people, model, f"{audiences}-audience_membership"} <= set(catalog)
    # Keys are the database's primary keys: target-cdp declares them on PostgreSQL only.
    postgres = history.config["database_url"].startswith("postgresql")
    assert catalog[people]["key_properties"] == (["person_id"] if postgres else [])
    assert catalog[people]["replication_method"] == "FULL_TABLE"
    assert catalog["audience_changes"]["replication_key"] == "changed_at"
    run = run_tap(history.config, streams={people, model})
    by_id = {row["person_id"]: row for row in run.records[people]}
    assert isinstance(by_id["rc_two"]["attributes"], dict)
    assert {row["person_id"] for row in run.records[model]} == {
        row["person_id"] for row in history.project.rows("repeat_customers")
    }


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "database_url is required"),
        ("duckdb:///:memory:", "in-memory DuckDB"),
        ("duckdb:///no/such/dir/cdp.duckdb", "does not exist"),
        ("mysql://u:secret@h/db", "must be duckdb:/// or postgresql://"),
        ("postgresql://u:secret@h:99999/db", "port 99999"),
    ],
)
def test_a_bad_database_url_is_one_line_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(Exception, match=problem) as raised:
        check_database_url(url)
    assert "secret" not in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_a_postgresql_url_without_a_driver_reads_with_psycopg(scheme: str) -> None:
    """SQLAlchemy's default driver for ``postgresql://`` is psycopg2, not installed with the tap."""
    url = f"{scheme}://reader:s3cret-pw@127.0.0.1:5432/cdp"
    assert database_url_problem(url) is None
    assert create_engine(url).dialect.driver == "psycopg"
