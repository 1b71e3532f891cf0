"""Fixtures for the dbt project in transform/: a CDP per engine and dbt runs over it.

The CDP tables are target-cdp's own (its migration), filled with the scenario's rows.

dbt takes seconds to start, so each engine gets one module-wide history of builds
(``build_history``) that every test reads, instead of a build per test.
"""

from __future__ import annotations

import pytest
import transform_scenario as scenario
from transform_cdp import CdpDatabase, Dialect
from transform_dbt import BuildHistory, DbtProject


@pytest.fixture(
    scope="module",
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest) -> Dialect:
    return request.param


@pytest.fixture(scope="module")
def build_history(
    engine: Dialect, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> BuildHistory:
    """Four builds over a changing CDP, in a fresh database of the engine.

    1. ``T0`` on the initial CDP; 2. ``T0 + 2 days`` after a deal is won, a subscriber leaves
    and a win is deleted; 3. ``T0 + 3 days`` after the deal reopens and the subscriber comes
    back; 4. one hour later on the same data.
    """
    work_dir = tmp_path_factory.mktemp(f"dbt-{engine}")
    if engine == "duckdb":
        # The default schema names, in a file named like the CDP schema (cdp.duckdb): the
        # hardest case, a DuckDB catalog named like the schema breaks two-part names in views.
        database = CdpDatabase("duckdb", str(work_dir / "cdp.duckdb"))
        project = DbtProject(database, "audiences", work_dir)
    else:
        # The session database is shared with other test areas: schemas of our own.
        database = CdpDatabase("postgres", request.getfixturevalue("pg_database"), "transform_cdp")
        project = DbtProject(database, "transform_audiences", work_dir)
    database.create_cdp_tables()

    history = BuildHistory(project)
    cdp = scenario.initial_cdp()
    history.build(cdp, scenario.T0)
    scenario.change_before_second_build(cdp)
    history.build(cdp, scenario.T0 + 2 * scenario.DAY)
    scenario.change_before_third_build(cdp)
    history.build(cdp, scenario.T0 + 3 * scenario.DAY)
    history.build(cdp, scenario.T0 + 3 * scenario.DAY + scenario.DAY / 24)
    return history
