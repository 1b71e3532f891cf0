"""The real entry point: budgets, errors in one line, secrets kept out of every output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pipedrive_sandbox.testing import start_sandbox
from tap_helpers import TAP_EXECUTABLE, catalog_for, run_cli, run_tap, sandbox_config

SECRET = "tok-4f1c9e7d2b8a-do-not-print"
CORE = ("persons", "organizations", "deals", "activities", "notes")


@pytest.fixture(scope="module")
def secret_sandbox() -> Any:
    """A sandbox whose API token is distinctive enough to grep for."""
    with start_sandbox(seed=5, scale=200, burst_limit=0, api_token=SECRET) as running:
        yield running


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "Traceback" in line]


def test_cli_sync_never_prints_the_token(secret_sandbox: Any, tmp_path: Path) -> None:
    run = run_cli(tmp_path, sandbox_config(secret_sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records["persons"]
    assert "Pipedrive API tokens spent by this run" in run.stderr
    assert '"metric":"pipedrive_token_count"' in run.stderr
    state_text = json.dumps(run.states)
    assert SECRET not in run.stderr
    assert SECRET not in json.dumps(run.messages)
    assert SECRET not in state_text


def test_wrong_token_is_one_line_and_exit_1(secret_sandbox: Any, tmp_path: Path) -> None:
    wrong = SECRET[::-1]
    run = run_cli(tmp_path, sandbox_config(secret_sandbox, api_token=wrong))
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert "rejected the api_token" in errors[0]
    assert "401" in errors[0]
    assert wrong not in run.stderr
    assert SECRET not in run.stderr


def test_wrong_token_in_discovery_is_one_line(secret_sandbox: Any, tmp_path: Path) -> None:
    run = run_cli(tmp_path, sandbox_config(secret_sandbox, api_token="nope-nope"), "--discover")
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert "rejected the api_token" in errors[0]
    assert "nope-nope" not in run.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"api_token": None}, "missing credentials: set api_token"),
        ({"start_date": "2024-13-45"}, "start_date '2024-13-45' is not a date"),
        ({"page_size": 5000}, "page_size: 5000 is greater than the maximum of 500"),
        ({"api_url": "ftp://example.com"}, "api_url 'ftp://example.com' must start with https://"),
        ({"client_id": "x"}, "set either api_token or the OAuth settings, not both"),
        (
            {"api_url": "https://acme.pipedrive.com/api/v2/persons"},
            "api_url must not name an API path (it has '/api/v2/persons')",
        ),
        ({"api_url": "https://acme.pipedrive.com/api"}, "api_url must not name an API path"),
        (
            {"api_url": f"https://acme.pipedrive.com/v1?api_token={SECRET}"},
            "api_url must not have a query or fragment",
        ),
        (
            {"api_url": f"ftp://gw:{SECRET}@gw.internal"},
            "api_url 'ftp://***@gw.internal' must start with https://",
        ),
    ],
)
def test_bad_settings_are_one_line(
    secret_sandbox: Any, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    config = {
        k: v for k, v in {**sandbox_config(secret_sandbox), **change}.items() if v is not None
    }
    run = run_cli(tmp_path, config)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert expected in errors[0]
    assert SECRET not in run.stderr


@pytest.mark.parametrize("pasted", ["/api/v1", "/api/v2/", "/v1"])
def test_a_pasted_api_path_is_dropped_from_api_url(
    secret_sandbox: Any, tmp_path: Path, pasted: str
) -> None:
    config = sandbox_config(secret_sandbox)
    catalog = catalog_for(config, {"pipelines", "users"})
    clean = run_tap(config, catalog=catalog)
    run = run_cli(tmp_path, {**config, "api_url": config["api_url"] + pasted}, catalog=catalog)
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in ("pipelines", "users"):
        assert run.ids(stream) == clean.ids(stream)
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, run.stderr[-2000:]
    assert f"api_url ends in {pasted.rstrip('/')}" in warnings[0]


def test_unknown_stream_in_catalog(secret_sandbox: Any, tmp_path: Path) -> None:
    config = sandbox_config(secret_sandbox)
    catalog = catalog_for(config, {"persons"})
    products = json.loads(json.dumps(catalog["streams"][0]))
    products["tap_stream_id"] = products["stream"] = "products"
    catalog["streams"].append(products)
    for item in products["metadata"]:
        if item["breadcrumb"] == []:
            item["metadata"]["selected"] = True
    run = run_cli(tmp_path, config, catalog=catalog)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert "unknown stream(s) products" in errors[0]


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        ({"persons": {"__filter__": "id >"}}, "Failed to parse expression id >."),
        ({"persons": {"label": "nam"}}, "'nam' is not defined"),
        ({"persons": {"__filter__": "unknown_field > 3"}}, "'unknown_field' is not defined"),
    ],
)
def test_a_broken_stream_map_is_one_line_naming_its_expression(
    secret_sandbox: Any, tmp_path: Path, maps: dict[str, Any], expected: str
) -> None:
    catalog = catalog_for(sandbox_config(secret_sandbox), {"persons"})
    config = {**sandbox_config(secret_sandbox), "stream_maps": maps}
    run = run_cli(tmp_path, config, catalog=catalog)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr[-3000:]
    assert errors[0].endswith("fix it in the tap's stream_maps setting")
    assert "stream_maps: " in errors[0]
    assert expected in errors[0]
    assert not run.records.get("persons")


def test_token_budget_stops_cleanly_and_the_next_run_completes(
    sandbox: Any, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, page_size=20)
    clean = run_tap(config)
    first = run_cli(tmp_path, {**config, "daily_token_budget": 150})
    assert first.returncode == 0, first.stderr[-2000:]
    warning = [line for line in first.stderr.splitlines() if "Stopped early" in line]
    assert len(warning) == 1
    assert "daily_token_budget of 150 tokens reached" in warning[0]
    assert _error_lines(first.stderr) == []
    second = run_cli(tmp_path, config, state=first.state)
    assert second.returncode == 0
    for stream in CORE:
        union = set(first.ids(stream)) | set(second.ids(stream))
        assert union == set(clean.ids(stream)), stream
    total = sum(len(first.ids(s)) + len(second.ids(s)) for s in CORE)
    boundary = sum(len(clean.ids(s)) for s in CORE)
    assert total <= boundary + 2 * len(CORE) + 2, "at most the boundary records repeat"


def test_pipedrive_daily_budget_spent_stops_cleanly(sandbox: Any, tmp_path: Path) -> None:
    config = sandbox_config(sandbox, page_size=20)
    clean = run_tap(config)
    sandbox.control.set_budget(daily_budget=150, spent=0)
    first = run_cli(tmp_path, config)
    assert first.returncode == 0, first.stderr[-2000:]
    assert any("daily token budget is spent" in line for line in first.stderr.splitlines())
    sandbox.control.set_budget(daily_budget=0, spent=0)
    second = run_cli(tmp_path, config, state=first.state)
    assert second.returncode == 0
    for stream in CORE:
        assert set(first.ids(stream)) | set(second.ids(stream)) == set(clean.ids(stream)), stream


def test_oauth_refreshes_an_expired_access_token(tmp_path: Path) -> None:
    with start_sandbox(seed=5, scale=100, burst_limit=0) as sandbox:
        config = {
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "refresh_token": "sandbox-refresh-token",
            "oauth_token_url": f"{sandbox.base_url}/oauth/token",  # api_url unset: api_domain
            "retry_base_delay": 0.01,
        }
        from tap_pipedrive.tap import TapPipedrive  # noqa: PLC0415

        tap = TapPipedrive(config=config)
        assert tap.api_base_url == sandbox.base_url
        sandbox.control.advance_clock(7200)  # the access token expires server-side
        sandbox.control.reset_stats()
        clean_ids = {p["id"] for p in sandbox.control.dataset("persons", include_deleted=False)}
        run = run_tap(config)
        assert set(run.ids("persons")) == clean_ids
        bad = run_cli(tmp_path, {**config, "refresh_token": "revoked"})
        assert bad.returncode == 1
        errors = _error_lines(bad.stderr)
        assert len(errors) == 1
        assert "OAuth token endpoint rejected the refresh token" in errors[0]
        assert "revoked" not in bad.stderr
        assert "sandbox-secret" not in bad.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"bookmarks": {"persons": ', "is not JSON (Expecting value at line 1, column 27)"),
        ("", "is empty"),
        ("[]", "the state: [] is not of type 'object'"),
        ('{"bookmarks": []}', "bookmarks: [] is not of type 'object'"),
        ('{"bookmarks": {"persons": "2024-01-01"}}', "bookmarks.persons: '2024-01-01' is not of"),
        (
            '{"bookmarks": {"deals": {"partitions": [{"replication_key_value": "x"}]}}}',
            "bookmarks.deals.partitions.0: 'context' is a required property",
        ),
        (
            '{"bookmarks": {"persons": {"replication_key_value": "yesterday"}}}',
            "bookmarks.persons.replication_key_value: 'yesterday' is not a date-time",
        ),
        # keys the SDK reads: a wrong type there failed inside it (AttributeError, TypeError)
        (
            '{"bookmarks": {"persons": {"progress_markers": "x"}}}',
            "bookmarks.persons.progress_markers: 'x' is not of type 'object'",
        ),
        (
            '{"bookmarks": {"persons": {"progress_markers": {"replication_key_value": 5}}}}',
            "bookmarks.persons.progress_markers.replication_key_value: 5 is not of type",
        ),
        (
            '{"bookmarks": {"persons": {"replication_key_signpost": [1]}}}',
            "bookmarks.persons.replication_key_signpost: [1] is not of type",
        ),
        (
            '{"bookmarks": {"persons": {"starting_replication_value": {"a": 1}}}}',
            "bookmarks.persons.starting_replication_value: {'a': 1} is not of type",
        ),
        (
            '{"bookmarks": {"deals": {"partitions": [{"context": {"is_archived": true}, '
            '"starting_replication_value": "soon"}]}}}',
            "bookmarks.deals.partitions.0.starting_replication_value: 'soon' is not a date-time",
        ),
        (
            '{"bookmarks": {"persons": {"reconciliation": {"version": 5, "started_at": "x"}}}}',
            "bookmarks.persons.reconciliation.started_at: 'x' is not a date-time",
        ),
        (
            '{"bookmarks": {"deals": {"partitions": [{"context": {"is_archived": true}}, '
            '{"context": {"is_archived": true}}]}}}',
            "bookmarks.deals.partitions.1: context {'is_archived': True} appears twice",
        ),
    ],
)
def test_a_corrupt_or_misshapen_state_file_is_one_line_naming_it(
    secret_sandbox: Any, tmp_path: Path, text: str, expected: str
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(text)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sandbox_config(secret_sandbox)))
    result = subprocess.run(
        [TAP_EXECUTABLE, "--config", str(config), "--state", str(state_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == "", "nothing is synced from a state that cannot be used"
    errors = _error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert f"the state file {state_file}" in errors[0]
    assert expected in errors[0]
    assert "fix it, or run without it to read everything again" in errors[0]


def test_a_closed_stdout_ends_the_tap_without_a_word(secret_sandbox: Any, tmp_path: Path) -> None:
    """The target failed and said why; the tap must not print tracebacks after that."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sandbox_config(secret_sandbox, page_size=20)))
    process = subprocess.Popen(
        [TAP_EXECUTABLE, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("{")
    process.stdout.close()  # the target is gone
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
    assert "Exception ignored" not in stderr
    assert _error_lines(stderr) == []
    assert "Pipedrive API tokens spent by this run" not in stderr, "nothing after the target"
