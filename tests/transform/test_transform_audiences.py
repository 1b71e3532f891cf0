"""dbt builds of transform/ on DuckDB and PostgreSQL, checked against the hand-made CDP.

Each audience is compared, build after build, with what transform_scenario computes from the
rows it loaded; audience_membership is compared with the stints those audiences imply.
"""

from __future__ import annotations

import re

import psycopg
import pytest
import transform_scenario as scenario
from transform_dbt import Build, BuildHistory

T0 = scenario.T0


def test_scenario_holds_every_edge_case() -> None:
    """The reference audiences at T0 on the initial CDP, spelled out by hand."""
    cdp = scenario.initial_cdp()
    assert set(scenario.reference_engaged_deals(cdp, T0)) == {
        "d_note_29",  # note 29 days ago (31 days ago is out)
        "d_at_window_start",  # exactly as_of - 30 days (exactly as_of is out)
        "d_person_clicked",  # the deal's person clicked an email 3 days ago
        "d_ties",  # two touches at the same instant
        "d_noted_4",  # a note 4 days ago naming no person
    }
    assert set(scenario.reference_slipping_subscribers(cdp, T0)) == {
        "slip_45",
        "edge_90",  # exactly 90 days ago is in (exactly 30 is out)
        "purged_80",
        "created_31",  # created 20 or exactly 30 days ago is out
        "met_45",  # a completed meeting; a plain update 5 days ago is no engagement
        "old_opener",  # opened an email 40 days ago
        "deal_called",  # a call on their deal 45 days ago (deal_noted: a note 4 days ago)
    }
    assert scenario.reference_repeat_customers(cdp, T0) == {
        "rc_two": 2,
        "rc_long_ago": 2,  # won 200 days ago, no activity left
        "rc_three_one_lost": 2,
    }


def test_each_build_runs_the_dbt_tests(build_history: BuildHistory) -> None:
    for build in build_history.builds:
        unit_tests = int(re.search(r"(\d+) unit tests?", build.output).group(1))
        data_tests = int(re.search(r"(\d+) data tests?", build.output).group(1))
        assert unit_tests >= 15
        assert data_tests >= 40
        assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0", build.output), build.output


def test_engaged_deals_match_the_reference(build_history: BuildHistory) -> None:
    for build in build_history.builds:
        expected = scenario.reference_engaged_deals(build.cdp, build.as_of)
        actual = {
            row["deal_id"]: {
                "touches_in_window": row["touches_in_window"],
                "last_engaged_at": row["last_engaged_at"],
            }
            for row in build.audiences["engaged_deals"]
        }
        assert actual == expected, build.as_of
    first = {row["deal_id"]: row for row in build_history.builds[0].audiences["engaged_deals"]}
    assert first["d_note_29"]["stage_name"] == "Proposal"
    assert first["d_note_29"]["pipeline_name"] == "Sales"
    assert first["d_note_29"]["person_id"] == "owner"
    assert first["d_ties"]["touches_in_window"] == 2


def test_slipping_subscribers_match_the_reference(build_history: BuildHistory) -> None:
    for build in build_history.builds:
        expected = scenario.reference_slipping_subscribers(build.cdp, build.as_of)
        actual = {
            row["person_id"]: row["last_engaged_at"]
            for row in build.audiences["slipping_subscribers"]
        }
        assert actual == expected, build.as_of
    assert "slip_45" not in {
        row["person_id"] for row in build_history.builds[1].audiences["slipping_subscribers"]
    }, "unsubscribing exits the audience"


def test_repeat_customers_match_the_reference(build_history: BuildHistory) -> None:
    for build in build_history.builds:
        expected = scenario.reference_repeat_customers(build.cdp, build.as_of)
        actual = {row["person_id"]: row["won_deals"] for row in build.audiences["repeat_customers"]}
        assert actual == expected, build.as_of
    second = {row["person_id"] for row in build_history.builds[1].audiences["repeat_customers"]}
    assert "rc_two" not in second, "one of two wins deleted"
    assert "rc_second_win_later" in second, "the second win happened between the builds"


def test_audience_members_union_the_audiences(build_history: BuildHistory) -> None:
    for build in build_history.builds:
        actual = [(row["audience"], row["member_id"]) for row in build.members]
        assert len(actual) == len(set(actual))
        assert set(actual) == scenario.reference_members(build.cdp, build.as_of), build.as_of
        kinds = {row["audience"]: row["member_kind"] for row in build.members}
        assert kinds == {
            "engaged_deals": "deal",
            "slipping_subscribers": "person",
            "repeat_customers": "person",
        }


def _stints(build: Build) -> set[tuple]:
    return {
        (
            row["audience"],
            row["member_id"],
            row["stint_number"],
            row["entered_at"],
            row["exited_at"],
        )
        for row in build.membership
    }


def test_membership_stints_follow_the_builds(build_history: BuildHistory) -> None:
    seen: list[tuple] = []
    for build in build_history.builds:
        seen.append((build.as_of, scenario.reference_members(build.cdp, build.as_of)))
        assert _stints(build) == scenario.reference_stints(seen), build.as_of
        for row in build.membership:
            assert row["membership_id"] == (
                f"{row['audience']}:{row['member_id']}:{row['stint_number']}"
            )
            kind = "deal" if row["audience"] == "engaged_deals" else "person"
            assert row["member_kind"] == kind


def test_membership_records_enter_stay_exit_and_reenter(build_history: BuildHistory) -> None:
    day = scenario.DAY
    final = _stints(build_history.builds[-1])
    # Entered at the first build and stayed through all of them.
    assert ("repeat_customers", "rc_long_ago", 1, T0, None) in final
    # Won between builds 1 and 2 (exit), reopened and touched before build 3 (new stint).
    assert ("engaged_deals", "d_note_29", 1, T0, T0 + 2 * day) in final
    assert ("engaged_deals", "d_note_29", 2, T0 + 3 * day, None) in final
    # Unsubscribed, then subscribed again.
    assert ("slipping_subscribers", "slip_45", 1, T0, T0 + 2 * day) in final
    assert ("slipping_subscribers", "slip_45", 2, T0 + 3 * day, None) in final
    # Entered at the second build (a note after T0), one of two wins deleted (exit).
    assert ("engaged_deals", "d_note_31", 1, T0 + 2 * day, None) in final
    assert ("repeat_customers", "rc_two", 1, T0, T0 + 2 * day) in final


def test_rebuild_on_unchanged_data_changes_nothing(build_history: BuildHistory) -> None:
    third, fourth = build_history.builds[2], build_history.builds[3]
    assert fourth.as_of > third.as_of
    assert scenario.reference_members(fourth.cdp, fourth.as_of) == scenario.reference_members(
        third.cdp, third.as_of
    ), "the scenario must move no member across a window edge between these builds"

    def ordered(rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda row: row["membership_id"])

    assert ordered(fourth.membership) == ordered(third.membership)
    assert len(third.membership) > 10


def test_staging_reads_json_and_defaults_consent(build_history: BuildHistory) -> None:
    project = build_history.project
    staging = project.database.relation(f"{project.audience_schema}_staging", "stg_cdp__people")
    rows = {row["person_id"]: row for row in project.database.query(f"SELECT * FROM {staging}")}
    assert rows["unsubscribed"]["marketing_status"] == "unsubscribed"
    assert rows["slip_45"]["marketing_status"] == "subscribed"
    assert rows["permission_unknown"]["has_email_permission"] is False
    assert rows["slip_45"]["has_email_permission"] is True
    assert "merged_away" not in rows  # merged into slip_45: one person, counted once


def test_as_of_before_the_last_build_is_refused(build_history: BuildHistory) -> None:
    project = build_history.project
    before = project.rows("audience_membership")
    output = project.run(
        "run", "--select", "audience_membership", as_of=T0 + scenario.DAY, check=False
    )
    assert "is earlier than the last build" in output
    assert "--full-refresh" in output
    assert project.rows("audience_membership") == before


def test_as_of_before_a_build_that_changed_nothing_is_refused(
    build_history: BuildHistory,
) -> None:
    """The last build changed no stint, so only audience_builds knows its as_of."""
    third, fourth = build_history.builds[2], build_history.builds[3]
    between = third.as_of + (fourth.as_of - third.as_of) / 2
    assert all(
        stint[key] is None or stint[key] <= third.as_of
        for stint in fourth.membership
        for key in ("entered_at", "exited_at")
    )
    project = build_history.project
    assert sorted(row["as_of"] for row in project.rows("audience_builds")) == [
        build.as_of for build in build_history.builds
    ]
    before = project.rows("audience_membership")
    output = project.run("run", "--select", "audience_membership", as_of=between, check=False)
    assert "is earlier than the last build" in output
    assert project.rows("audience_membership") == before


def test_reference_stints_enter_exit_and_reenter() -> None:
    """The test's own stint bookkeeping, on three builds spelled out by hand."""
    t1, t2, t3 = T0, T0 + scenario.DAY, T0 + 2 * scenario.DAY
    builds = [
        (t1, {("engaged_deals", "d1"), ("repeat_customers", "p1")}),
        (t2, {("repeat_customers", "p1")}),
        (t3, {("engaged_deals", "d1"), ("repeat_customers", "p1")}),
    ]
    assert scenario.reference_stints(builds) == {
        ("engaged_deals", "d1", 1, t1, t2),
        ("engaged_deals", "d1", 2, t3, None),
        ("repeat_customers", "p1", 1, t1, None),
    }


def test_rebuild_at_the_same_as_of_on_newer_data(build_history: BuildHistory) -> None:
    """Last in this module: it adds builds. A member that entered at as_of and is gone when
    the same as_of is rebuilt after a sync gets a zero-length stint, and the build passes."""
    as_of = build_history.builds[-1].as_of + scenario.DAY
    cdp = build_history.builds[-1].cdp.copy()
    cdp.activity("pipedrive.note.added", as_of - scenario.DAY, deal_id="d_person_opened_long_ago")
    key = ("engaged_deals", "d_person_opened_long_ago")

    def stints(build: Build) -> list[tuple]:
        return sorted(
            (row["stint_number"], row["entered_at"], row["exited_at"])
            for row in build.membership
            if (row["audience"], row["member_id"]) == key
        )

    assert stints(build_history.build(cdp, as_of)) == [(1, as_of, None)]
    cdp.find_deal("d_person_opened_long_ago").update(status="won")
    assert stints(build_history.build(cdp, as_of)) == [(1, as_of, as_of)]
    cdp.find_deal("d_person_opened_long_ago").update(status="open")
    assert stints(build_history.build(cdp, as_of)) == [(1, as_of, as_of), (2, as_of, None)]


def test_membership_has_its_read_indexes_once_on_postgres(build_history: BuildHistory) -> None:
    """cdp-view's person and audience pages read audience_membership by member and by audience:
    on PostgreSQL each index exists after the first build and is not added again by later ones."""
    database = build_history.project.database
    if database.dialect != "postgres":
        pytest.skip("the indexes are PostgreSQL's; DuckDB pages scan zone maps")
    with psycopg.connect(database.location) as conn:
        definitions = conn.execute(
            "select indexdef from pg_indexes where schemaname = %s"
            " and tablename = 'audience_membership'",
            (build_history.project.audience_schema,),
        ).fetchall()
    shapes = sorted(definition.partition(" USING btree ")[2] for (definition,) in definitions)
    assert shapes == [
        "(audience, entered_at)",
        "(audience, exited_at)",
        "(audience, member_id) WHERE (exited_at IS NULL)",
        "(member_id)",
    ]
