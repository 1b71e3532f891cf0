"""The network between the tap and Pipedrive: nothing listening, a silent host, connections
dropped or timed out until the retries run out, redirects to other hosts. Each ends with one
error line naming the host (and api_url) and a STATE, and no credential goes anywhere else."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from tap_helpers import catalog_for, fake_api, run_cli, run_tap, sandbox_config, v2_page
from tap_pipedrive.auth import PipedriveOAuthAuthenticator
from tap_pipedrive.errors import RedirectRefusedError, TokenEndpointError, TransientResponseError
from tap_pipedrive.tap import TapPipedrive
from tap_pipedrive.transport import Attempts, GuardedSession

SECRET = "tok-77d1e0c4-never-printed"
PASSWORD = "gw-pass-3b9f"
STATE = {
    "bookmarks": {
        "persons": {
            "replication_key": "update_time",
            "replication_key_value": "2026-01-01T00:00:00Z",
            "table_version": 1767225600,
            # reconciled a moment ago: no pass starts, so the state stays as it was
            "last_reconciled_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    }
}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "Traceback" in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


@contextlib.contextmanager
def _full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: new connections are never established (Linux drops
    the SYNs), so only the connect timeout can end the wait."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.fixture(scope="module")
def catalog(shared_sandbox: Any) -> dict[str, Any]:
    """What Meltano passes: a catalog (so the run fails inside the sync, not in discovery);
    pipelines only, the one route the scripted APIs below serve."""
    return catalog_for(sandbox_config(shared_sandbox), {"pipelines"})


def _unreachable_config(url: str, **settings: Any) -> dict[str, Any]:
    return {
        "api_token": SECRET,
        "api_url": url,
        "max_retries": 2,
        "retry_base_delay": 0.01,
        "include_custom_fields": False,
        **settings,
    }


@pytest.mark.parametrize("password", [PASSWORD, "p@ss-3b9f", "p@s@s-3b9f"])
def test_nothing_listening_at_api_url_is_one_line_naming_it(
    tmp_path: Path, catalog: dict[str, Any], password: str
) -> None:
    """requests splits ``user:password@`` at the last "@": none of the password is shown."""
    port = _free_port()
    config = _unreachable_config(f"http://gw:{password}@127.0.0.1:{port}/pipedrive")
    run = run_cli(tmp_path, config, catalog=catalog, state=STATE, timeout=60)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert (
        f"GET /pipedrive/api/v2/pipelines on 127.0.0.1:{port} failed: connection refused "
        f"(nothing listens on that port); check api_url (http://***@127.0.0.1:{port}/pipedrive)"
    ) in errors[0]
    assert "retrying" not in run.stderr, "a wrong address is not retried for a minute"
    assert run.state["bookmarks"]["persons"] == STATE["bookmarks"]["persons"], "kept as given"
    assert len(run.stderr.splitlines()) < 30, run.stderr
    assert "3b9f" not in run.stderr
    assert SECRET not in run.stderr


def test_a_host_that_never_answers_fails_on_the_read_timeout(
    tmp_path: Path, catalog: dict[str, Any]
) -> None:
    with _silent_server() as port:
        config = _unreachable_config(f"http://127.0.0.1:{port}", request_timeout=1)
        started = time.monotonic()
        run = run_cli(tmp_path, config, catalog=catalog, state=STATE, timeout=60)
        elapsed = time.monotonic() - started
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert f"on 127.0.0.1:{port} failed on all 2 attempts" in errors[0]
    assert "no answer within 1 s (request_timeout)" in errors[0]
    assert f"check api_url (http://127.0.0.1:{port})" in errors[0]
    assert run.state["bookmarks"]["persons"] == STATE["bookmarks"]["persons"]
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 1, "one warning per retry, no silence"
    assert elapsed < 20


def test_three_read_timeouts_in_a_row_end_the_run_before_max_retries(
    tmp_path: Path, catalog: dict[str, Any]
) -> None:
    """A host that accepted and never answered three times is down: no 6 x request_timeout."""
    with _silent_server() as port:
        config = _unreachable_config(f"http://127.0.0.1:{port}", request_timeout=1, max_retries=6)
        started = time.monotonic()
        run = run_cli(tmp_path, config, catalog=catalog, state=STATE, timeout=60)
        elapsed = time.monotonic() - started
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert (
        f"GET /api/v2/pipelines on 127.0.0.1:{port} failed on 3 attempts: no answer within 1 s "
        f"(request_timeout); check api_url (http://127.0.0.1:{port}) or try again later"
    ) in errors[0]
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 2
    assert run.state["bookmarks"]["persons"] == STATE["bookmarks"]["persons"]
    assert elapsed < 20


def test_the_oauth_token_endpoint_gives_up_after_three_read_timeouts_too() -> None:
    with _silent_server() as port:
        authenticator = PipedriveOAuthAuthenticator(
            client_id="id",
            client_secret=SECRET,
            refresh_token=SECRET,
            token_url=f"http://127.0.0.1:{port}/oauth/token",
            timeout=(1.0, 0.5),
            max_tries=6,
            retry_base_delay=0.01,
        )
        started = time.monotonic()
        with pytest.raises(TokenEndpointError) as failure:
            authenticator.ensure_token()
        elapsed = time.monotonic() - started
    assert str(failure.value) == (
        f"the OAuth token endpoint http://127.0.0.1:{port}/oauth/token failed on 3 attempts "
        "(no answer within 0.5 s (request_timeout)); Pipedrive may be down, try again later"
    )
    assert elapsed < 5


def _timeout() -> requests.exceptions.ReadTimeout:
    return requests.exceptions.ReadTimeout("read timed out")


def _http_503() -> TransientResponseError:
    return TransientResponseError("HTTP 503")


@pytest.mark.parametrize(
    ("failures", "given_up_at"),
    [
        ([_timeout, _timeout, _timeout], 3),
        # anything else in between starts the count again
        ([_timeout, _timeout, _http_503, _timeout, _timeout], None),
        ([lambda: requests.exceptions.ConnectTimeout("no connection")] * 4, None),
        ([lambda: requests.exceptions.ConnectionError(ConnectionRefusedError())], 1),
    ],
    ids=["three timeouts", "interrupted by a 503", "connect timeouts", "refused"],
)
def test_only_read_timeouts_in_a_row_cut_the_retries_short(
    failures: list[Any], given_up_at: int | None
) -> None:
    attempts = Attempts()
    verdicts = [attempts.give_up(make()) for make in failures]
    given_up = [n for n, verdict in enumerate(verdicts, start=1) if verdict]
    assert given_up == ([given_up_at] if given_up_at else [])
    assert attempts.failed == len(failures)


def test_the_default_request_timeout_is_half_a_minute() -> None:
    defaults = TapPipedrive.config_jsonschema["properties"]
    assert defaults["request_timeout"]["default"] == 30
    assert defaults["max_retries"]["default"] == 6


def test_the_connect_timeout_is_its_own(tmp_path: Path, catalog: dict[str, Any]) -> None:
    """A connection that is never established ends after connect_timeout, not request_timeout."""
    with _full_backlog() as port:
        config = _unreachable_config(
            f"http://127.0.0.1:{port}", connect_timeout=0.5, request_timeout=60
        )
        started = time.monotonic()
        run = run_cli(tmp_path, config, catalog=catalog, state=STATE, timeout=60)
        elapsed = time.monotonic() - started
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert "no connection within 0.5 s (connect_timeout)" in errors[0]
    assert f"127.0.0.1:{port}" in errors[0]
    assert elapsed < 20


def test_an_unresolvable_host_is_named(tmp_path: Path, catalog: dict[str, Any]) -> None:
    run = run_cli(tmp_path, _unreachable_config("https://acme.pipedrive.invalid"), catalog=catalog)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert (
        "GET /api/v2/pipelines on acme.pipedrive.invalid failed: the host name does not "
        "resolve (DNS); check api_url (https://acme.pipedrive.invalid)"
    ) in errors[0]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            {"drop": {"every": 1, "after": 2, "paths": ["/api/v2/persons"]}},
            "connection was dropped",
        ),
        (
            {"slow": {"every": 1, "after": 2, "seconds": 3, "paths": ["/api/v2/persons"]}},
            "no answer within 1 s",
        ),
    ],
)
def test_retries_running_out_on_the_network_keep_the_last_good_state(
    sandbox: Any, tmp_path: Path, fault: dict[str, Any], expected: str
) -> None:
    config = sandbox_config(sandbox, page_size=10, max_retries=2, request_timeout=1)
    catalog = catalog_for(config, {"persons"})
    sandbox.control.set_faults(fault)
    run = run_cli(tmp_path, config, catalog=catalog, timeout=60)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert expected in errors[0]
    assert "GET /api/v2/persons on " + sandbox.base_url.split("//")[1] in errors[0]
    assert len(run.ids("persons")) == 20, "two pages arrived before the faults"
    bookmark = run.state["bookmarks"]["persons"]["replication_key_value"]
    assert bookmark == run.records["persons"][-1]["update_time"]


def test_http_errors_name_the_host(tmp_path: Path, catalog: dict[str, Any]) -> None:
    """A real token sent to the wrong place (the README's "connect your own account" with the
    dev environment's sandbox address) is refused there: the error says which host refused."""
    denied = {"success": False, "error": "You do not have permission", "errorCode": 403}
    with fake_api({"/api/v2/pipelines": [(403, denied, {})]}) as api:
        run = run_cli(tmp_path, _unreachable_config(api.url), catalog=catalog)
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert f"HTTP 403 for GET /api/v2/pipelines on {api.url.split('//')[1]}" in errors[0]


def test_a_rejected_token_names_the_host(tmp_path: Path, catalog: dict[str, Any]) -> None:
    unauthorized = {"success": False, "error": "unauthorized access", "errorCode": 401}
    with fake_api({"/api/v2/pipelines": [(401, unauthorized, {})]}) as api:
        run = run_cli(tmp_path, _unreachable_config(api.url), catalog=catalog)
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert "Pipedrive rejected the api_token" in errors[0]
    assert f"on {api.url.split('//')[1]}" in errors[0]
    assert SECRET not in run.stderr


def test_a_redirect_to_another_host_is_refused_before_the_token_goes_there(
    tmp_path: Path, catalog: dict[str, Any]
) -> None:
    with fake_api({"/api/v2/pipelines": [(200, v2_page([]), {})]}) as elsewhere:
        other = elsewhere.url.replace("127.0.0.1", "localhost")
        moved = {"Location": f"{other}/api/v2/pipelines?limit=500"}
        with fake_api({"/api/v2/pipelines": [(302, "<html>moved</html>", moved)]}) as api:
            run = run_cli(tmp_path, _unreachable_config(api.url), catalog=catalog)
    assert elsewhere.requests == [], "nothing was sent to the other host"
    assert run.returncode == 1
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert f"redirected (HTTP 302) to {other}/api/v2/pipelines" in errors[0]
    assert "does not send credentials to another host" in errors[0]
    assert run.states, "the state reached is written"


def test_a_redirect_on_the_same_host_is_followed() -> None:
    pipelines = [{"id": 3, "name": "Sales", "update_time": "2026-01-01T00:00:00Z"}]
    with fake_api({"/api/v2/pipelines": [(200, v2_page(pipelines), {})]}) as api:
        routes = {"/v2/pipelines": [(301, "<html>moved</html>", {"Location": "/api/v2/pipelines"})]}
        api.routes.update(routes)
        config = _unreachable_config(api.url)
        run = run_tap(config, catalog=catalog_for(config, {"pipelines"}))
    assert run.ids("pipelines") == [3]


def test_the_oauth_token_endpoint_is_not_followed_to_another_host(tmp_path: Path) -> None:
    """A 307 would resend the refresh token (in the body) to the other host."""
    with fake_api({"/oauth/token": [(200, {"access_token": "x"}, {})]}) as elsewhere:
        other = elsewhere.url.replace("127.0.0.1", "localhost")
        moved = {"Location": f"{other}/oauth/token"}
        with fake_api({"/oauth/token": [(307, "<html>moved</html>", moved)]}) as api:
            config = {
                "client_id": "id",
                "client_secret": "client-secret-9",
                "refresh_token": "refresh-token-9",
                "oauth_token_url": f"{api.url}/oauth/token",
            }
            run = run_cli(tmp_path, config, "--discover")
    assert elsewhere.requests == []
    errors = _error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    assert "POST /oauth/token on 127.0.0.1" in errors[0]
    assert "refresh-token-9" not in run.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("https://acme.pipedrive.com/api/v2/x", "http://acme.pipedrive.com/api/v2/x"),
        ("https://acme.pipedrive.com/api/v2/x", "https://acme.pipedrive.com:8443/api/v2/x"),
        ("https://acme.pipedrive.com/api/v2/x", "https://evil.example/api/v2/x"),
    ],
)
def test_downgrades_and_other_ports_are_refused_too(old: str, new: str) -> None:
    response = requests.Response()
    response.status_code = 301
    response.request = requests.Request("GET", old).prepare()
    redirected = requests.Request("GET", new, headers={"x-api-token": SECRET}).prepare()
    with pytest.raises(RedirectRefusedError) as refused:
        GuardedSession().rebuild_auth(redirected, response)
    assert SECRET not in str(refused.value)
    assert new.split("/api")[0] in str(refused.value)
