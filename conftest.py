"""Fixtures and scheduling shared by every test area: PostgreSQL databases made per test run.

Each plugin's tests live beside it (``tap-pipedrive/tests/``, ``target-cdp/tests/``, ...); the
tests that span parts stay at the root (``tests/e2e/``, ``tests/transform/``). This file sits at
the repository root so that every one of those directories shares it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return os.environ.get("TEST_PG_URL", DEFAULT_PG_URL)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: only called under ``-n``
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule ``make test``'s two workers by work units that must not be split.

    A module's tests stay on one worker, so its module-scoped fixtures (a sync, a dbt build
    history) are built once; so do cdp-view's, whose session fixtures fill CDPs by real
    syncs. Every test that runs the repository's Meltano project lives in ``e2e/``, and that
    area is one unit: its runs share the project's ``.meltano/`` (plugin virtualenvs, installed
    on first use, and each plugin's run files). xdist's own ``loadgroup`` cannot say this with
    pytest 9 (its group suffix no longer reaches the node ids), so the scope is derived from the
    path here.
    """
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 - only under xdist

    class AreaScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.partition("::")[0]
            folder = path.rpartition("/")[0]  # e.g. tests/e2e, cdp-view/tests
            return folder if folder in SHARED_AREAS else path

    return AreaScheduling(config, log)


E2E = Path(__file__).resolve().parent / "tests" / "e2e"

SHARED_AREAS = frozenset({"tests/e2e", "cdp-view/tests"})
"""Test folders run as one unit on one worker (see ``pytest_xdist_make_scheduler``)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the scheduling rule true: a test marked ``meltano`` must live in ``e2e/``."""
    for item in items:
        if item.get_closest_marker("meltano") and item.path.parent != E2E:
            msg = f"{item.nodeid} runs Meltano: move it to tests/e2e/ (see conftest.py)"
            raise pytest.UsageError(msg)


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
