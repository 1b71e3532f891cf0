"""Fixtures shared by every test area: PostgreSQL databases made per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return os.environ.get("TEST_PG_URL", DEFAULT_PG_URL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist's ``--dist loadgroup`` (the Makefile's ``make test``).

    A module's tests stay on one worker, so its module-scoped fixtures (a sync, a dbt build
    history) are built once; so do the ``view`` area's, whose session fixtures fill CDPs by
    real syncs. Every test that runs the repository's Meltano project (the ``e2e`` area and
    tests marked ``meltano``) shares one worker: they share its ``.meltano/`` directory (plugin
    virtualenvs, installed on first use, and each plugin's run files).
    """
    for item in items:
        area = item.path.parent.name
        if area == "e2e" or item.get_closest_marker("meltano"):
            group = "meltano"
        elif area == "view":
            group = "view"
        else:
            group = item.nodeid.partition("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def make_pg_database() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases, all dropped at the end of the session.

    Each call creates a database and returns its libpq URL (``postgresql://...``). The server
    named by ``TEST_PG_URL`` is never assumed empty: every test run works in databases of its own.
    """
    admin_url = _admin_url()
    base, _, _ = admin_url.rpartition("/")
    created: list[str] = []

    def make() -> str:
        name = f"cdp_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{base}/{name}"

    try:
        yield make
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database(make_pg_database: Callable[[], str]) -> str:
    """A fresh PostgreSQL database shared by this test session (libpq URL)."""
    return make_pg_database()


@pytest.fixture(scope="session")
def pg_sqlalchemy_url(pg_database: str) -> str:
    """The session database as a SQLAlchemy URL (psycopg 3 driver)."""
    return pg_database.replace("postgresql://", "postgresql+psycopg://", 1)
