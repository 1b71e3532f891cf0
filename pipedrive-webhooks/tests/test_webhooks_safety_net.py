"""``status`` shows the polling safety net's last run, read from Meltano's run history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner
from pipedrive_webhooks.cli import main

# Meltano 4.4's table, as `meltano run` creates it in .meltano/meltano.db.
RUNS_TABLE = """CREATE TABLE "runs" (
    id INTEGER NOT NULL, job_name VARCHAR, state VARCHAR(7), started_at DATETIME,
    ended_at DATETIME, payload VARCHAR, payload_flags INTEGER, run_id CHAR(32),
    "trigger" VARCHAR, last_heartbeat_at DATETIME, PRIMARY KEY (id))"""


def meltano_db(path: Path, rows: list[tuple]) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(RUNS_TABLE)
        conn.executemany(
            "INSERT INTO runs (id, job_name, state, started_at, ended_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    return path


def status(tmp_path: Path, **settings: str) -> str:
    env = {"PIPEDRIVE_WEBHOOKS_SPOOL_URL": str(tmp_path / "spool.sqlite")}
    env.update({f"PIPEDRIVE_WEBHOOKS_{k.upper()}": v for k, v in settings.items()})
    result = CliRunner().invoke(main, ["status"], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_newest_run_of_the_polling_job_is_shown(tmp_path: Path) -> None:
    db = meltano_db(
        tmp_path / "meltano.db",
        [
            (
                1,
                "dev:tap-pipedrive-to-target-cdp",
                "SUCCESS",
                "2026-12-03 06:00:00.1",
                "2026-12-03 06:01:10.5",
            ),
            (2, "dev:tap-pipedrive-live-to-target-cdp", "SUCCESS", "2026-12-03 06:10:00", None),
            (
                3,
                "dev:tap-pipedrive-to-target-cdp",
                "FAIL",
                "2026-12-03 06:15:00",
                "2026-12-03 06:15:30",
            ),
            (4, "prod:tap-pipedrive-live-to-target-cdp", "RUNNING", "2026-12-03 06:20:00", None),
        ],
    )
    out = status(tmp_path, meltano_database_uri=f"sqlite:///{db}")
    assert (
        "  last run dev:tap-pipedrive-to-target-cdp FAIL, started 2026-12-03T06:15:00Z, "
        "ended 2026-12-03T06:15:30Z"
    ) in out
    out = status(
        tmp_path,
        meltano_database_uri=f"sqlite:///{db}",
        safety_net_state_id="tap-pipedrive-live-to-target-cdp",
    )
    assert (
        "  last run prod:tap-pipedrive-live-to-target-cdp RUNNING, started 2026-12-03T06:20:00Z"
        in out
    )


def test_no_run_yet_no_database_or_not_configured(tmp_path: Path) -> None:
    db = meltano_db(tmp_path / "meltano.db", [])
    assert "no run recorded in Meltano's run history yet" in status(
        tmp_path, meltano_database_uri=f"sqlite:///{db}"
    )
    missing = tmp_path / "nowhere" / "meltano.db"
    assert f"last run unknown: no Meltano system database at sqlite:///{missing}" in status(
        tmp_path, meltano_database_uri=f"sqlite:///{missing}"
    )
    assert not missing.exists()  # looking never creates it
    assert "last run not checked (set meltano_database_uri)" in status(tmp_path)


def test_an_unreadable_history_names_no_password(tmp_path: Path) -> None:
    out = status(tmp_path, meltano_database_uri="postgresql://meltano:pw-hunter22@127.0.0.1:9/m")
    assert "last run unknown: could not read Meltano's run history at" in out
    assert "pw-hunter22" not in out
