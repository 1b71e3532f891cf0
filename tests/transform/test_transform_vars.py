"""Numeric dbt vars are checked before they reach SQL: a bad value stops the build with a
compile error naming the var, instead of being inlined raw (``min_won_deals: "2; drop ..."``).

Checked on DuckDB only: the check is Jinja, run before any SQL reaches an engine.
"""

from __future__ import annotations

import pytest
import transform_scenario as scenario
from transform_cdp import CdpDatabase
from transform_dbt import DbtProject


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    work_dir = tmp_path_factory.mktemp("dbt-vars")
    return DbtProject(CdpDatabase("duckdb", str(work_dir / "cdp.duckdb")), "audiences", work_dir)


def _compile(project: DbtProject, model: str, dbt_vars: dict) -> str:
    return project.run(
        "compile", "--select", model, as_of=scenario.T0, dbt_vars=dbt_vars, check=False
    )


@pytest.mark.parametrize(
    ("model", "name", "value", "expected"),
    [
        (
            "repeat_customers",
            "min_won_deals",
            "2; drop table cdp.people",
            "var 'min_won_deals' must be a whole number >= 1, got '2; drop table cdp.people'",
        ),
        (
            "repeat_customers",
            "min_won_deals",
            0,
            "var 'min_won_deals' must be a whole number >= 1, got 0",
        ),
        (
            "repeat_customers",
            "repeat_lookback_days",
            True,
            "var 'repeat_lookback_days' must be a whole number >= 0 or null, got True",
        ),
        (
            "engaged_deals",
            "engaged_days",
            "thirty",
            "var 'engaged_days' must be a whole number >= 0, got 'thirty'",
        ),
        (
            "slipping_subscribers",
            "recent_days",
            -1,
            "var 'recent_days' must be a whole number >= 0, got -1",
        ),
        (
            "slipping_subscribers",
            "lookback_days",
            1.5,
            "var 'lookback_days' must be a whole number >= 0, got 1.5",
        ),
    ],
)
def test_a_bad_numeric_var_is_a_compile_error_naming_it(
    project: DbtProject, model: str, name: str, value: object, expected: str
) -> None:
    output = _compile(project, model, {name: value})
    assert "Compilation Error" in output
    assert expected in output
    assert f"--vars '{{{name}: <number>}}'" in output


def test_numeric_vars_given_as_digits_are_numbers(project: DbtProject) -> None:
    """--vars may quote a number; the compiled SQL has the number, not the text."""
    output = _compile(
        project, "repeat_customers", {"min_won_deals": "3", "repeat_lookback_days": " 90 "}
    )
    assert "Compilation Error" not in output, output
    compiled = next((project.work_dir / "target" / "compiled").rglob("repeat_customers.sql"))
    sql = compiled.read_text(encoding="utf-8")
    assert "wins_per_person.won_deals >= 3" in sql
    assert "interval '2160 hours'" in sql
