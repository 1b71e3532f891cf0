"""Session fixtures of the cdp-view tests: the sandbox, CDPs filled from it, views served."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pipedrive_sandbox.testing import start_sandbox
from view_helpers import (
    BIN,
    PG_PASSWORD,
    SANDBOX_TOKEN,
    VIEW_PASSWORD,
    View,
    dbt_build,
    load_rejected_record,
    make_project,
    run_sync,
    serve,
)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    with start_sandbox(seed=21, scale=400, burst_limit=0, api_token=SANDBOX_TOKEN) as running:
        yield running


def _tap_config(sandbox: Any) -> dict[str, Any]:
    return {"api_token": sandbox.api_token, "api_url": sandbox.base_url}


@pytest.fixture(scope="session")
def duckdb_url(tmp_path_factory: pytest.TempPathFactory, sandbox: Any) -> str:
    """A DuckDB CDP after two syncs (full, then incremental) and one audience build."""
    work = tmp_path_factory.mktemp("duckdb-cdp")
    path = work / "warehouse.duckdb"
    url = f"duckdb:///{path}"
    target = {"database_url": url, "schema": "cdp"}
    state = run_sync(_tap_config(sandbox), target, work, None)
    run_sync(_tap_config(sandbox), target, work, state)
    load_rejected_record(target, work)
    dbt_build(path, work)
    return url


@pytest.fixture(scope="session")
def pg_url(
    make_pg_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory, sandbox: Any
) -> str:
    """A PostgreSQL CDP after one sync, its URL carrying a password the view must never show."""
    base = make_pg_database().replace("postgresql://", "postgresql+psycopg://", 1)
    url = base.replace("postgres@", f"postgres:{PG_PASSWORD}@", 1)
    work = tmp_path_factory.mktemp("pg-cdp")
    run_sync(_tap_config(sandbox), {"database_url": url, "schema": "cdp"}, work, None)
    return url


def duckdb_env(url: str) -> dict[str, str]:
    return {"TARGET_CDP_DATABASE_URL": url, "TAP_PIPEDRIVE_API_TOKEN": SANDBOX_TOKEN}


@pytest.fixture(scope="session")
def duckdb_view(tmp_path_factory: pytest.TempPathFactory, duckdb_url: str) -> Iterator[View]:
    """A password-protected view of the DuckDB CDP listening on every address, for tests that
    only read (its project is never changed)."""
    project = make_project(tmp_path_factory.mktemp("project-read"))
    env = {**duckdb_env(duckdb_url), "CDP_VIEW_PASSWORD": VIEW_PASSWORD}
    with serve(project, "dev", env, "--host", "0.0.0.0") as view:
        yield view


@pytest.fixture(scope="session")
def pg_view(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[View]:
    """A view of the PostgreSQL CDP in the prod environment (CDP_DATABASE_URL, as in .env)."""
    project = make_project(tmp_path_factory.mktemp("project-pg"))
    env = {"CDP_DATABASE_URL": pg_url, "TAP_PIPEDRIVE_API_TOKEN": SANDBOX_TOKEN}
    with serve(project, "prod", env) as view:
        yield view


@pytest.fixture(scope="module")
def settings_view(tmp_path_factory: pytest.TempPathFactory, duckdb_url: str) -> Iterator[View]:
    """A view on a project copy of its own, for the tests that change settings.

    Its Meltano is the real one except for ``meltano run``, which only writes its arguments
    to ``runs.log`` (a resync would install plugins and sync; the test checks what is asked).
    """
    project = make_project(tmp_path_factory.mktemp("project-settings"))
    wrapper = project / "meltano-except-run"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" run "*) echo "$@" >> "$(dirname "$0")/runs.log"; exit 0;; esac\n'
        f'exec "{BIN / "meltano"}" "$@"\n'
    )
    wrapper.chmod(0o755)
    with serve(project, "dev", duckdb_env(duckdb_url), "--meltano", str(wrapper)) as view:
        yield view
