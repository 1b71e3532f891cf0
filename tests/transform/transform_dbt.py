"""Running the transform/ dbt project from tests, and what each build left behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import transform_scenario as scenario
from transform_cdp import CdpDatabase

PROJECT_DIR = Path(__file__).resolve().parents[2] / "transform"
DBT = Path(sys.executable).parent / "dbt"
AUDIENCES = ("engaged_deals", "slipping_subscribers", "repeat_customers")


@dataclass(frozen=True)
class DbtProject:
    """The transform/ project pointed at one CDP database, with dbt's target/ and logs/ in
    ``work_dir`` so that tests leave the repository clean."""

    database: CdpDatabase
    audience_schema: str
    work_dir: Path

    def env(self) -> dict[str, str]:
        """The environment a user (or Meltano) would set, and nothing inherited from ours."""
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("CDP_", "DBT_"))
        }
        env |= {
            "CDP_SCHEMA": self.database.schema,
            "CDP_AUDIENCE_SCHEMA": self.audience_schema,
            "DBT_LOG_PATH": str(self.work_dir / "logs"),
        }
        if self.database.dialect == "duckdb":
            return env | {"CDP_DBT_TARGET": "dev", "CDP_DUCKDB_PATH": self.database.location}
        info = psycopg.conninfo.conninfo_to_dict(self.database.location)
        return env | {
            "CDP_DBT_TARGET": "prod",
            "CDP_PG_HOST": str(info.get("host", "127.0.0.1")),
            "CDP_PG_PORT": str(info.get("port", "5432")),
            "CDP_PG_USER": str(info.get("user", "postgres")),
            "CDP_PG_PASSWORD": str(info.get("password", "")),
            "CDP_PG_DATABASE": str(info["dbname"]),
        }

    def run(
        self,
        command: str,
        *args: str,
        as_of: dt.datetime,
        check: bool = True,
        dbt_vars: dict[str, Any] | None = None,
    ) -> str:
        """Run ``dbt <command>`` at a fixed as_of (and other ``dbt_vars``); return its output,
        fail the test if it failed and ``check`` is set."""
        result = subprocess.run(
            [
                str(DBT),
                command,
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(self.work_dir / "target"),
                "--vars",
                json.dumps({"as_of": as_of.isoformat(), **(dbt_vars or {})}),
                "--no-use-colors",
                *args,
            ],
            env=self.env(),
            cwd=self.work_dir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = result.stdout + result.stderr
        if check and result.returncode != 0:
            pytest.fail(f"dbt {command} failed ({result.returncode}):\n{output[-6000:]}")
        return output

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Every row of a model built in the audience schema."""
        relation = self.database.relation(self.audience_schema, name)
        return self.database.query(f"SELECT * FROM {relation}")


@dataclass(frozen=True)
class Build:
    """One build: the CDP it read, dbt's output, the audience tables it wrote."""

    as_of: dt.datetime
    cdp: scenario.Cdp
    output: str
    audiences: dict[str, list[dict[str, Any]]]
    members: list[dict[str, Any]]
    membership: list[dict[str, Any]]


@dataclass
class BuildHistory:
    """Successive ``dbt build`` runs over one database, each after loading the CDP rows."""

    project: DbtProject
    builds: list[Build] = field(default_factory=list)

    def build(self, cdp: scenario.Cdp, as_of: dt.datetime) -> Build:
        self.project.database.load(cdp.tables())
        output = self.project.run("build", as_of=as_of)
        snapshot = Build(
            as_of=as_of,
            cdp=cdp.copy(),
            output=output,
            audiences={name: self.project.rows(name) for name in AUDIENCES},
            members=self.project.rows("audience_members"),
            membership=self.project.rows("audience_membership"),
        )
        self.builds.append(snapshot)
        return snapshot
