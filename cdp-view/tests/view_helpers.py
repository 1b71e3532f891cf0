"""A CDP filled by the real tap and target from the sandbox, and cdp-view served over it.

The CDP is filled once per session: two runs of ``tap-pipedrive | target-cdp`` (the second
incremental, from the first one's state) and one ``dbt build`` of transform/. The view runs as
its console script on a COPY of the repository's meltano.yml in a temporary project directory,
with a private Meltano system database, so the tests change that copy only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SANDBOX_TOKEN = "sbx-tok-7f3a9c2e51d84b06"  # a distinctive value no page may show
VIEW_PASSWORD = "pw-view-5d1e8b3f9a"
#: The PostgreSQL CDP's password in its URL (no page may show it).
PG_PASSWORD = "pg-secret-3e8d0a"


def run_sync(tap_config: dict, target_config: dict, work: Path, state: dict | None) -> dict:
    """One ``tap-pipedrive | target-cdp`` run; returns the target's last STATE."""
    (work / "tap.json").write_text(json.dumps(tap_config))
    (work / "target.json").write_text(json.dumps(target_config))
    tap_cmd = [str(BIN / "tap-pipedrive"), "--config", str(work / "tap.json")]
    if state:
        (work / "state.json").write_text(json.dumps(state))
        tap_cmd += ["--state", str(work / "state.json")]
    with (work / "tap.log").open("w") as tap_log:
        tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=tap_log)
        target = subprocess.run(
            [str(BIN / "target-cdp"), "--config", str(work / "target.json")],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        tap.wait(timeout=60)
    assert tap.returncode == 0, (work / "tap.log").read_text()[-3000:]
    assert target.returncode == 0, target.stderr[-3000:]
    states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
    return states[-1] if states else {}


def load_rejected_record(target_config: dict, work: Path) -> None:
    """One target run whose only record breaks its SCHEMA: a ``rejected_records`` row."""
    (work / "target.json").write_text(json.dumps(target_config))
    messages = [
        {
            "type": "SCHEMA",
            "stream": "persons",
            "key_properties": ["id"],
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
        {"type": "RECORD", "stream": "persons", "record": {"id": "not-a-number"}},
    ]
    result = subprocess.run(
        [str(BIN / "target-cdp"), "--config", str(work / "target.json")],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def dbt_build(duckdb_path: Path, work: Path) -> None:
    """Build the audiences of transform/ into the DuckDB file (models only: tests are
    transform's own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "DBT_"))}
    env |= {
        "CDP_DBT_TARGET": "dev",
        "CDP_DUCKDB_PATH": str(duckdb_path),
        "DBT_TARGET_PATH": str(work / "dbt-target"),
        "DBT_LOG_PATH": str(work / "dbt-logs"),
    }
    result = subprocess.run(
        [
            str(BIN / "dbt"),
            "run",
            "--project-dir",
            str(ROOT / "transform"),
            "--profiles-dir",
            str(ROOT / "transform"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def make_project(directory: Path) -> Path:
    """A Meltano project directory holding a copy of the repository's meltano.yml."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "meltano.yml", directory / "meltano.yml")
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class View:
    """A running cdp-view."""

    url: str
    project: Path
    process: subprocess.Popen
    password: str | None = None

    def client(self, **kwargs: Any) -> httpx.Client:
        auth = ("any", self.password) if self.password else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=120, **kwargs)

    def meltano_yml(self) -> str:
        return (self.project / "meltano.yml").read_text()


def view_env(project: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment Meltano would give the utility, with a private system database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "MELTANO_"))}
    return {
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        **extra,
    }


@contextlib.contextmanager
def serve(project: Path, environment: str, extra_env: dict[str, str], *args: str) -> Iterator[View]:
    """Run ``cdp-view serve`` until the block exits."""
    port = free_port()
    env = view_env(project, extra_env)
    log = (project / "view.log").open("w")
    process = subprocess.Popen(
        [
            str(BIN / "cdp-view"),
            "serve",
            "--port",
            str(port),
            "--project-dir",
            str(project),
            "--environment",
            environment,
            *args,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    view = View(f"http://127.0.0.1:{port}", project, process, env.get("CDP_VIEW_PASSWORD"))
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, (project / "view.log").read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(view.url + "/favicon.ico", timeout=2)
                break
            assert time.monotonic() < deadline, "cdp-view did not start"
            time.sleep(0.3)
        yield view
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a query (DuckDB opened read-only: never while the view or a sync writes)."""
    connect_args = {"read_only": True} if url.startswith("duckdb") else {}
    engine = sa.create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()
