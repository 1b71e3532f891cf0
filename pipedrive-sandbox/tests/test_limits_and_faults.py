"""Rate limits (burst window, daily token budget, headers) and every fault kind."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from sandbox_helpers import ANCHOR, api_session

RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit",
    "x-daily-ratelimit-token-remaining",
)


@pytest.fixture
def limited() -> Iterator[RunningSandbox]:
    """A sandbox with a burst limit of 5 requests per 2 s and a budget of 100 tokens."""
    with start_sandbox(
        seed=5, scale=60, anchor=ANCHOR, burst_limit=5, daily_budget=100, frozen_clock=True
    ) as running:
        yield running


def test_burst_limit_answers_429_with_headers_then_recovers(limited: RunningSandbox) -> None:
    api = api_session(limited)
    url = f"{limited.base_url}/api/v2/pipelines"  # costs 5 tokens
    answers = [api.get(url, timeout=10) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    for answer in answers:
        assert all(name in answer.headers for name in RATE_HEADERS)
    assert [int(a.headers["x-ratelimit-remaining"]) for a in answers[:5]] == [4, 3, 2, 1, 0]
    assert answers[0].headers["x-ratelimit-limit"] == "5"
    refused = answers[5]
    assert refused.json()["success"] is False
    assert refused.json()["error"]
    assert 1 <= int(refused.headers["x-ratelimit-reset"]) <= 2
    assert refused.headers["x-daily-ratelimit-token-remaining"] == "75"
    time.sleep(2.1)
    assert api.get(url, timeout=10).status_code == 200
    stats = limited.control.stats()
    assert stats["rate_limited"] == {"burst": 1}
    assert stats["tokens_spent"] == 30  # the refused request costs nothing


def test_daily_budget_runs_out_until_reset(limited: RunningSandbox) -> None:
    limited.control.set_burst_limit(0)
    api = api_session(limited)
    url = f"{limited.base_url}/api/v2/persons"  # 10 tokens
    statuses = [api.get(url, timeout=10).status_code for _ in range(12)]
    assert statuses == [200] * 10 + [429, 429]
    last = api.get(f"{limited.base_url}/api/v2/stages", timeout=10)  # even 5 tokens is refused
    assert last.status_code == 429
    assert last.headers["x-daily-ratelimit-token-remaining"] == "0"
    assert limited.control.stats()["daily_budget_remaining"] == 0
    limited.control.set_budget(1000)
    assert api.get(url, timeout=10).status_code == 200
    assert limited.control.stats()["daily_budget_remaining"] == 990


def test_budget_resets_at_midnight_of_the_sandbox_clock(limited: RunningSandbox) -> None:
    limited.control.set_budget(100, spent=100)
    api = api_session(limited)
    assert api.get(f"{limited.base_url}/api/v2/stages", timeout=10).status_code == 429
    limited.control.advance_clock(86400)
    assert api.get(f"{limited.base_url}/api/v2/stages", timeout=10).status_code == 200


@pytest.fixture
def faulty(writable_sandbox: RunningSandbox) -> RunningSandbox:
    return writable_sandbox


def test_rate_limit_and_server_error_faults_every_nth(faulty: RunningSandbox) -> None:
    api = api_session(faulty)
    url = f"{faulty.base_url}/api/v2/stages"
    faulty.control.set_faults(
        rate_limit={"every": 3}, server_error={"every": 4, "statuses": [500, 502, 503, 524]}
    )
    codes = [api.get(url, timeout=10).status_code for _ in range(16)]
    assert codes == [200, 200, 429, 500, 200, 429, 200, 502, 429, 200, 200, 429, 200, 200, 429, 524]
    faulty.control.clear_faults()
    assert api.get(url, timeout=10).status_code == 200
    stats = faulty.control.stats()
    assert stats["faults_injected"]["rate_limit"] == 5
    assert stats["faults_injected"]["server_error"] == 3


def test_body_faults_null_and_truncated(faulty: RunningSandbox) -> None:
    api = api_session(faulty)
    url = f"{faulty.base_url}/api/v2/persons"
    faulty.control.set_faults(null_body={"every": 1, "count": 1})
    nulled = api.get(url, timeout=10)
    assert nulled.status_code == 200
    assert nulled.content == b"null"
    faulty.control.set_faults(truncate={"every": 1, "count": 1})
    cut = api.get(url, timeout=10)
    assert cut.status_code == 200
    assert int(cut.headers["Content-Length"]) == len(cut.content)
    with pytest.raises(requests.JSONDecodeError):
        cut.json()
    assert api.get(url, timeout=10).json()["success"] is True  # count=1: only once


def test_dropped_connection_and_html_403(faulty: RunningSandbox) -> None:
    faulty.control.set_faults(drop={"every": 1, "count": 1})
    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"{faulty.base_url}/api/v2/persons",
            headers={"x-api-token": faulty.api_token},
            timeout=10,
        )
    faulty.control.set_faults(html_403={"every": 1, "count": 1})
    blocked = api_session(faulty).get(f"{faulty.base_url}/api/v2/persons", timeout=10)
    assert blocked.status_code == 403
    assert blocked.headers["Content-Type"].startswith("text/html")
    assert b"Cloudflare" in blocked.content


def test_slow_responses_and_path_scoped_faults(faulty: RunningSandbox) -> None:
    api = api_session(faulty)
    faulty.control.set_faults(slow={"every": 1, "seconds": 0.6, "paths": ["/api/v1/"]})
    started = time.perf_counter()
    assert api.get(f"{faulty.base_url}/api/v2/stages", timeout=10).ok
    fast = time.perf_counter() - started
    started = time.perf_counter()
    assert api.get(f"{faulty.base_url}/api/v1/users", timeout=10).ok
    slow = time.perf_counter() - started
    assert fast < 0.5
    assert slow >= 0.6


def test_probability_faults_are_deterministic_for_a_seed() -> None:
    def run() -> list[int]:
        with start_sandbox(
            seed=1,
            scale=30,
            burst_limit=0,
            fault_seed=42,
            faults={"server_error": {"probability": 0.3}},
        ) as running:
            api = api_session(running)
            return [
                api.get(f"{running.base_url}/api/v2/stages", timeout=10).status_code
                for _ in range(30)
            ]

    first, second = run(), run()
    assert first == second
    assert 3 <= first.count(500) + first.count(502) + first.count(503) + first.count(524) <= 20


def test_control_and_oauth_are_never_faulted_or_counted(faulty: RunningSandbox) -> None:
    faulty.control.set_faults(server_error={"every": 1})
    faulty.control.reset_stats()
    for _ in range(3):
        assert faulty.control.health()
    token = requests.post(
        f"{faulty.base_url}/oauth/token",
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "refresh_token", "refresh_token": "sandbox-refresh-token"},
        timeout=10,
    )
    assert token.ok
    assert faulty.control.stats()["requests"] == 0


def test_keep_alive_connection_serves_many_requests(faulty: RunningSandbox) -> None:
    parts = urlsplit(faulty.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    for _ in range(3):
        connection.request("GET", "/api/v2/stages", headers={"x-api-token": faulty.api_token})
        answer = connection.getresponse()
        assert answer.status == 200
        answer.read()
    connection.close()
