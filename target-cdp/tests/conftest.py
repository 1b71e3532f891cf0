"""Fixtures for target-cdp tests: a fresh CDP (DuckDB file or PostgreSQL schema) per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from target_database import CDP


@pytest.fixture(params=["duckdb", "postgresql"])
def cdp(request: pytest.FixtureRequest, tmp_path: Path) -> CDP:
    """A fresh, empty CDP on DuckDB and on PostgreSQL."""
    if request.param == "duckdb":
        return CDP(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", "cdp")
    return CDP(request.getfixturevalue("pg_sqlalchemy_url"), f"cdp_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def duck(tmp_path: Path) -> CDP:
    """A fresh CDP on DuckDB only (for behaviour that does not depend on the database)."""
    return CDP(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", "cdp")


@pytest.fixture
def make_pg_cdp(pg_sqlalchemy_url: str) -> Iterator[Callable[[], CDP]]:
    """Factory of fresh PostgreSQL CDP schemas."""
    return lambda: CDP(pg_sqlalchemy_url, f"cdp_{uuid.uuid4().hex[:10]}")
