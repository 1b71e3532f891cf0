"""Start sandboxes from tests and benchmarks, and drive their control API.

    from pipedrive_sandbox.testing import start_sandbox

    with start_sandbox(seed=7, scale=300, burst_limit=0) as sandbox:
        sandbox.base_url, sandbox.api_token, sandbox.control.stats()

``options`` map to ``pipedrive-sandbox serve`` flags: ``burst_limit=0`` -> ``--burst-limit 0``,
``frozen_clock=True`` -> ``--frozen-clock``, ``faults={...}`` -> ``--faults '<json>'``,
``oauth_scopes=["base", "contacts:read"]`` -> ``--oauth-scopes base,contacts:read``,
``anchor`` may be an RFC 3339 string, an aware ``datetime`` or epoch seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from pipedrive_sandbox import timefmt

READY_TIMEOUT = 60.0


class SandboxControl:
    """A small client of the ``/_sandbox`` control API (see the package README)."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_sandbox{path}", json=body, params=params or None, timeout=60
        )
        if not response.ok:
            raise RuntimeError(
                f"control {method} {path} -> {response.status_code}: {response.text}"
            )
        return response.json()

    def health(self) -> bool:
        """Whether the sandbox answers."""
        return bool(self._call("GET", "/health")["ok"])

    def info(self) -> dict[str, Any]:
        """Seed, scale, anchor, counts and custom field keys."""
        return self._call("GET", "/info")

    def stats(self) -> dict[str, Any]:
        """Requests, tokens spent, per operation and per status."""
        return self._call("GET", "/stats")

    def reset_stats(self) -> dict[str, Any]:
        """Zero the counters."""
        return self._call("POST", "/stats/reset")

    def set_faults(self, faults: dict[str, Any] | None = None, **rules: Any) -> dict[str, Any]:
        """Replace the fault rules: ``set_faults(server_error={"every": 3})``."""
        return self._call("POST", "/faults", {**(faults or {}), **rules})

    def clear_faults(self) -> dict[str, Any]:
        """Switch every fault off."""
        return self._call("DELETE", "/faults")

    def set_budget(self, daily_budget: int | None = None, spent: int = 0) -> dict[str, Any]:
        """Set the daily token budget (0 = unlimited) and what is already spent today."""
        body: dict[str, Any] = {"spent": spent}
        if daily_budget is not None:
            body["daily_budget"] = daily_budget
        return self._call("POST", "/budget", body)

    def set_burst_limit(self, burst_limit: int) -> dict[str, Any]:
        """Requests per 2-second window (0 = unlimited)."""
        return self._call("POST", "/burst-limit", {"burst_limit": burst_limit})

    def create(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a record (kinds: persons, organizations, deals, activities, notes)."""
        return self._call("POST", f"/records/{kind}", {"fields": fields})["data"]

    def update(self, kind: str, record_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a record; bumps its update_time and records changelog rows."""
        return self._call("PATCH", f"/records/{kind}/{record_id}", {"fields": fields})["data"]

    def delete(self, kind: str, record_id: int) -> dict[str, Any]:
        """Soft-delete a record as Pipedrive does."""
        return self._call("DELETE", f"/records/{kind}/{record_id}")["data"]

    def merge(self, kind: str, record_id: int, merge_with_id: int) -> dict[str, Any]:
        """Merge a person or organization into ``merge_with_id`` (the survivor, returned)."""
        body = {"merge_with_id": merge_with_id}
        return self._call("POST", f"/records/{kind}/{record_id}/merge", body)["data"]

    def bulk_update(
        self, kind: str, ids: list[int], fields: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Change the same fields on several records, like a list-view bulk edit."""
        return self._call("PATCH", f"/records/{kind}", {"ids": ids, "fields": fields})["data"]

    def webhooks(self) -> dict[str, Any]:
        """Delivery schedule, pending deliveries, per-webhook counters, recent attempts."""
        return self._call("GET", "/webhooks")

    def configure_webhooks(self, **settings: Any) -> dict[str, Any]:
        """Shorten the schedule: ``retry_delays``, ``timeout``, ``ban_after``, ``ban_seconds``."""
        return self._call("POST", "/webhooks/config", settings)

    def wait_for_webhooks(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until no delivery is queued, waiting for a retry or in flight; the report."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.webhooks()
            if report["pending"] == 0:
                return report
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook deliveries still pending: {report['pending']}")
            time.sleep(0.05)

    def get(self, kind: str, record_id: int) -> dict[str, Any]:
        """One record as stored (v2 shape; notes v1)."""
        return self._call("GET", f"/records/{kind}/{record_id}")["data"]

    def dataset(self, kind: str, include_deleted: bool = True) -> list[dict[str, Any]]:  # noqa: FBT001, FBT002
        """Every record of a kind, the source of truth for expectations."""
        flag = "true" if include_deleted else "false"
        return self._call("GET", f"/records/{kind}", include_deleted=flag)["data"]

    def now(self) -> str:
        """The sandbox clock, RFC 3339."""
        return self._call("GET", "/clock")["now"]

    def advance_clock(self, seconds: int) -> str:
        """Move the sandbox clock forward; returns the new time."""
        return self._call("POST", "/clock/advance", {"seconds": seconds})["now"]


@dataclass
class RunningSandbox:
    """A sandbox subprocess and how to reach it."""

    base_url: str
    api_token: str
    control: SandboxControl
    process: subprocess.Popen[str]
    startup_seconds: float


def _flag_args(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                args.append(flag)
            continue
        if name == "faults":
            text = json.dumps(value)
        elif isinstance(value, list | tuple):
            text = ",".join(str(item) for item in value)
        elif name == "anchor":
            text = _anchor_text(value)
        else:
            text = str(value)
        args += [flag, text]
    return args


def _anchor_text(value: str | int | datetime) -> str:
    if isinstance(value, datetime):
        return timefmt.v2(int(value.timestamp()))
    if isinstance(value, int):
        return timefmt.v2(value)
    return value


@contextmanager
def start_sandbox(seed: int = 7, scale: int = 300, **options: Any) -> Iterator[RunningSandbox]:
    """Run ``pipedrive-sandbox serve`` on a free port until the block exits."""
    api_token = options.get("api_token", "sandbox-token")
    command = [
        sys.executable,
        "-m",
        "pipedrive_sandbox",
        "serve",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--scale",
        str(scale),
        *_flag_args(options),
    ]
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        base_url = _wait_ready(process)
        control = SandboxControl(base_url)
        yield RunningSandbox(base_url, api_token, control, process, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _wait_ready(process: subprocess.Popen[str]) -> str:
    """Read the ready line (``listening on http://...``) from the subprocess."""
    assert process.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            stderr = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"pipedrive-sandbox exited before it was ready:\n{stderr}")
        if "listening on " in line:
            return line.split("listening on ", 1)[1].split()[0]
    raise TimeoutError("pipedrive-sandbox did not become ready in time")
