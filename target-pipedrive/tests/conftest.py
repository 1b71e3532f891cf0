"""Fixtures for target-pipedrive tests: one writable sandbox per module, a fresh ledger per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox

sys.path.insert(0, str(Path(__file__).parent))

ANCHOR = "2026-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """A small writable sandbox, no limits, frozen clock; tests write distinct records."""
    with start_sandbox(
        seed=11, scale=300, anchor=ANCHOR, burst_limit=0, daily_budget=0, frozen_clock=True
    ) as running:
        yield running


@pytest.fixture
def duck(tmp_path: Path) -> dict[str, str]:
    """A fresh DuckDB CDP file (settings database_url and schema)."""
    return {"database_url": f"duckdb:///{tmp_path / 'cdp.duckdb'}", "schema": "cdp"}


@pytest.fixture(params=["duckdb", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A fresh ledger on each engine (a new DuckDB file, or a new PostgreSQL schema)."""
    if request.param == "duckdb":
        return {"database_url": f"duckdb:///{tmp_path / 'cdp.duckdb'}", "schema": "cdp"}
    url = request.getfixturevalue("pg_sqlalchemy_url")
    return {"database_url": url, "schema": f"cdp_{uuid.uuid4().hex[:10]}"}


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Distinct names per test on the shared sandbox."""
    tag = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{tag}"
