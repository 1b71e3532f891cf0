"""Fixtures for tap-cdp: a CDP built the real way (target-cdp's tables, the transform/ dbt
project) per engine, and the tap run in this process.

The CDP rows and the dbt runs are the transform tests' own (tests/transform), so the tap reads
exactly what dbt builds; one module-wide history of builds and tap runs per engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "transform"))


@pytest.fixture(
    scope="module",
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param
