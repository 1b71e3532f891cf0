"""Fixtures shared by every test area: PostgreSQL databases made per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return os.environ.get("TEST_PG_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create a fresh PostgreSQL database for this test session and drop it afterwards.

    Yields a libpq URL (``postgresql://...``). The server named by ``TEST_PG_URL`` is never
    assumed empty: every run works in a database of its own.
    """
    admin_url = _admin_url()
    name = f"cdp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_sqlalchemy_url(pg_database: str) -> str:
    """The session database as a SQLAlchemy URL (psycopg 3 driver)."""
    return pg_database.replace("postgresql://", "postgresql+psycopg://", 1)
