"""The README's flows, typed as the README shows them.

- every `meltano` command it shows names its environment where Meltano ignores
  `default_environment` (`config`, `select`, `state`, `job`, `schedule`: which ones is read from
  Meltano's own command definitions);
- "Connect your own Pipedrive account" in the default environment sends the account's token to
  the account's URL (a sandbox stands in for the account), with an API token or OAuth;
- an account URL that refuses the token fails with an error naming that host;
- a typo'd stream in `select:` is warned about as the tap's last lines.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_meltano import ROOT, MeltanoError, MeltanoProject, read_rows
from meltano.cli import cli as meltano_cli
from meltano.cli.utils import CliEnvironmentBehavior
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox

README = ROOT / "README.md"
IGNORE_DEFAULT_ENVIRONMENT = frozenset(
    name
    for name, command in meltano_cli.commands.items()
    if getattr(command, "environment_behavior", None)
    is CliEnvironmentBehavior.environment_optional_ignore_default
)


def _readme_meltano_commands() -> list[str]:
    """Every `meltano ...` command in the README's code blocks and inline code."""
    text = README.read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    lines = [line for block in blocks for line in block.splitlines()] + inline
    return [
        line.split(" #", 1)[0].strip()
        for line in lines
        if re.search(r"(^|/|\s)meltano\s+\S", line.split(" #", 1)[0])
    ]


def _subcommand(command: str) -> tuple[str | None, bool]:
    """The Meltano subcommand of a command line, and whether it names an environment."""
    words = shlex.split(command.replace("<", "").replace(">", ""))
    start = next(i for i, w in enumerate(words) if w == "meltano" or w.endswith("/meltano"))
    environment, rest = False, iter(words[start + 1 :])
    for word in rest:
        if word == "--environment" or word.startswith("--environment="):
            environment = True
            if word == "--environment":
                next(rest, None)
        elif not word.startswith("-"):
            return word, environment
    return None, environment


def test_meltano_knows_which_commands_ignore_the_default_environment() -> None:
    assert {"config", "select"} <= IGNORE_DEFAULT_ENVIRONMENT


def test_readme_commands_name_the_environment_where_meltano_ignores_the_default() -> None:
    commands = _readme_meltano_commands()
    assert commands, "no meltano command found in the README"
    unnamed = [
        command
        for command in commands
        if (parsed := _subcommand(command))[0] in IGNORE_DEFAULT_ENVIRONMENT and not parsed[1]
    ]
    assert unnamed == []


def _account_command() -> list[str]:
    """The README's command for the default environment in "Connect your own Pipedrive account"."""
    section = README.read_text().split("## Connect your own Pipedrive account", 1)[1]
    section = section.split("\n## ", 1)[0]
    for command in _readme_meltano_commands():
        if command in section and " run " in command and "--environment" not in command:
            words = shlex.split(command)
            return words[next(i for i, w in enumerate(words) if w.endswith("meltano")) + 1 :]
    pytest.fail("the section shows no `meltano run` for the default environment")


@pytest.fixture(scope="module")
def account() -> Iterator[RunningSandbox]:
    """A sandbox standing in for the user's Pipedrive account."""
    with start_sandbox(seed=9, scale=60, burst_limit=0) as sandbox:
        yield sandbox


def _default_environment(work_dir: Path, account_env: dict[str, str]) -> MeltanoProject:
    warehouse = work_dir / "warehouse.duckdb"
    return MeltanoProject(
        None,
        work_dir,
        {
            **account_env,
            "TARGET_CDP_DATABASE_URL": f"duckdb:///{warehouse}",
            "CDP_DUCKDB_PATH": str(warehouse),
        },
    )


def test_own_account_with_an_api_token_in_the_default_environment(
    tmp_path: Path, account: RunningSandbox
) -> None:
    project = _default_environment(
        tmp_path,
        {"TAP_PIPEDRIVE_API_TOKEN": account.api_token, "PIPEDRIVE_API_URL": account.base_url},
    )
    account.control.reset_stats()
    project.run(*_account_command())
    assert account.control.stats()["by_operation"]["GET /api/v2/persons"]["requests"] >= 1
    url = project.env["TARGET_CDP_DATABASE_URL"]
    persons = {p["id"] for p in account.control.dataset("persons", include_deleted=False)}
    stored = read_rows(url, "select pipedrive_person_id from cdp.people")
    assert {r["pipedrive_person_id"] for r in stored} >= persons
    assert read_rows(url, "select count(*) as n from audiences.engaged_deals")


def test_own_account_with_oauth_in_the_default_environment(
    tmp_path: Path, account: RunningSandbox
) -> None:
    project = _default_environment(
        tmp_path,
        {
            "TAP_PIPEDRIVE_CLIENT_ID": "sandbox-client",
            "TAP_PIPEDRIVE_CLIENT_SECRET": "sandbox-secret",
            "TAP_PIPEDRIVE_REFRESH_TOKEN": "sandbox-refresh-token",
            "TAP_PIPEDRIVE_OAUTH_TOKEN_URL": f"{account.base_url}/oauth/token",
        },
    )
    account.control.reset_stats()
    project.run("run", "tap-pipedrive", "target-cdp")
    assert account.control.stats()["by_operation"]["GET /api/v2/persons"]["requests"] >= 1
    stored = read_rows(
        project.env["TARGET_CDP_DATABASE_URL"], "select count(*) as n from cdp.people"
    )
    assert stored[0]["n"] > 0


def test_an_account_url_that_refuses_the_token_is_named_in_the_error(
    tmp_path: Path, account: RunningSandbox
) -> None:
    project = _default_environment(
        tmp_path,
        {
            "TAP_PIPEDRIVE_API_TOKEN": "not-this-accounts-token",
            "PIPEDRIVE_API_URL": account.base_url,
        },
    )
    with pytest.raises(MeltanoError) as failure:
        project.run("run", "tap-pipedrive", "target-cdp")
    output = str(failure.value)
    host = account.base_url.removeprefix("http://")
    errors = [line for line in output.splitlines() if "tap-pipedrive:" in line and "401" in line]
    assert errors, output[-3000:]
    assert host in errors[0]
    assert "not-this-accounts-token" not in output


def test_a_typo_in_select_is_the_taps_last_warning(tmp_path: Path, account: RunningSandbox) -> None:
    project = _default_environment(
        tmp_path,
        {"TAP_PIPEDRIVE_API_TOKEN": account.api_token, "PIPEDRIVE_API_URL": account.base_url},
    )
    output = project.run(
        "invoke",
        "tap-pipedrive",
        extra_env={"TAP_PIPEDRIVE__SELECT": json.dumps(["persosn.*", "deals.*"])},
    )
    tap_lines = [line for line in output.splitlines() if line.strip() and "METRIC" not in line]
    warning = next(
        i for i, line in enumerate(tap_lines) if "'persosn.*'" in line and "select" in line
    )
    assert "did you mean persons?" in tap_lines[warning]
    assert "Beginning sync" in "\n".join(tap_lines[:warning])
    assert not any("sync" in line.lower() for line in tap_lines[warning + 1 :])
