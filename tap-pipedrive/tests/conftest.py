"""tap-pipedrive tests run against a real pipedrive-sandbox subprocess.

The SDK's standard tests discover streams when their module is imported (at collection), so the
shared sandbox starts in ``pytest_configure``, before collection. Tests that change data start a
sandbox of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pipedrive_sandbox.testing import start_sandbox
from tap_helpers import SHARED

_STACK = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    """Start the read-only sandbox shared by this directory's tests."""
    SHARED["sandbox"] = _STACK.enter_context(start_sandbox(seed=7, scale=300, burst_limit=0))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop it."""
    _STACK.close()


@pytest.fixture(scope="session")
def shared_sandbox() -> Any:
    """The read-only sandbox (do not change its data)."""
    return SHARED["sandbox"]


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A sandbox of this test's own, free to change."""
    with start_sandbox(seed=11, scale=300, burst_limit=0) as running:
        yield running
