"""Run the repository's Meltano project from tests, isolated from the user's own runs.

Tests run Meltano in the repository itself (so `pip_url: -e ./tap-pipedrive` and the plugin
virtualenvs under `.meltano/` are the real ones) but with a system database of their own
(`MELTANO_DATABASE_URI`, which holds Meltano's state), and with every output a run writes
(the CDP database, dbt's `target/` and logs, JSONL files) in a temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


class MeltanoError(AssertionError):
    """A Meltano command failed; carries the end of its output."""


@dataclass
class MeltanoProject:
    """The repository's meltano.yml, run in one environment (None: the default one, as a user
    typing no --environment) with a private system database."""

    environment: str | None
    work_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    root: Path = ROOT

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        """Run ``meltano --environment <env> <args>``; return its output or raise."""
        chosen = ["--environment", self.environment] if self.environment else []
        command = [str(BIN / "meltano"), *chosen, *args]
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{self.work_dir / 'meltano.db'}",
            "DBT_TARGET_PATH": str(self.work_dir / "dbt-target"),
            "DBT_LOG_PATH": str(self.work_dir / "dbt-logs"),
            **self.env,
            **(extra_env or {}),
        }
        result = subprocess.run(
            command,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            msg = f"`meltano {' '.join(args)}` exited {result.returncode}:\n{output[-6000:]}"
            raise MeltanoError(msg)
        return output

    def state(self, state_id: str) -> dict[str, Any]:
        """Meltano's stored Singer state for a job."""
        output = self.run("state", "get", state_id)
        start = output.index("{")
        return json.loads(output[start : output.rindex("}") + 1])


def read_rows(url: str, sql: str) -> list[dict[str, Any]]:
    """Rows of a query as dicts, on DuckDB or PostgreSQL (one SQLAlchemy code path)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()
