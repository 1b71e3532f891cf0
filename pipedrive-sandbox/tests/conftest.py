"""Shared sandboxes for the sandbox tests (started once per session, as subprocesses)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from sandbox_helpers import ANCHOR, api_session


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """A read-mostly sandbox: 2,000 records, fixed anchor, no rate limits, frozen clock.

    Tests that change data use ``writable_sandbox`` instead.
    """
    with start_sandbox(
        seed=7, scale=2000, anchor=ANCHOR, burst_limit=0, daily_budget=0, frozen_clock=True
    ) as running:
        yield running


@pytest.fixture
def writable_sandbox() -> Iterator[RunningSandbox]:
    """A fresh small sandbox per test, for writes, limits and faults."""
    with start_sandbox(
        seed=11, scale=300, anchor=ANCHOR, burst_limit=0, daily_budget=0, frozen_clock=True
    ) as running:
        yield running


@pytest.fixture(scope="session")
def api(sandbox: RunningSandbox) -> requests.Session:
    """An authenticated session on the shared sandbox."""
    return api_session(sandbox)
