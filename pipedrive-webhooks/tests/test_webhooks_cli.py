"""``serve`` and ``status`` refuse bad settings with one line, before listening or connecting."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pipedrive_webhooks.cli import main
from webhooks_helpers import PASSWORD, USER


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD": ""},
            "invalid configuration: auth_password (--auth-password or "
            "PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD) is not set",
        ),
        (
            {"PIPEDRIVE_WEBHOOKS_AUTH_USER": "pipe:drive"},
            "invalid configuration: auth_user must not contain ':'",
        ),
        (
            {
                "PIPEDRIVE_WEBHOOKS_APPLY_QUIET_SECONDS": "30",
                "PIPEDRIVE_WEBHOOKS_APPLY_MAX_WAIT_SECONDS": "10",
            },
            "invalid configuration: apply_max_wait_seconds (10) is shorter than "
            "apply_quiet_seconds (30)",
        ),
        (
            {"PIPEDRIVE_WEBHOOKS_APPLY_COMMAND": "meltano run 'tap"},
            "invalid configuration: apply_command cannot be split into arguments",
        ),
        (
            {"PIPEDRIVE_WEBHOOKS_SPOOL_URL": f"mysql://root:{PASSWORD}@db/cdp"},
            "is neither SQLite nor PostgreSQL: use a file path, sqlite:///path or "
            "postgresql://user@host/db",
        ),
        (
            {"PIPEDRIVE_WEBHOOKS_SPOOL_URL": f"postgresql://cdp:{PASSWORD}@127.0.0.1:9/cdp"},
            "cannot open the spool postgresql+psycopg://cdp:***@127.0.0.1:9/cdp: OperationalError",
        ),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    env = {
        "PIPEDRIVE_WEBHOOKS_SPOOL_URL": str(tmp_path / "spool.sqlite"),
        "PIPEDRIVE_WEBHOOKS_AUTH_USER": USER,
        "PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD": PASSWORD,
        **settings,
    }
    result = CliRunner().invoke(main, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("pipedrive-webhooks: ")
    assert message in result.output
    assert result.output.count("\n") == 1
    assert PASSWORD not in result.output


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    env = {"PIPEDRIVE_WEBHOOKS_SPOOL_URL": "mysql://nowhere/x"}
    result = CliRunner().invoke(
        main, ["status", "--spool-url", str(tmp_path / "s.sqlite")], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"Spool: sqlite:///{tmp_path / 's.sqlite'}" in result.output
