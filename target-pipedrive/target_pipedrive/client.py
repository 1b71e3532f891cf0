"""Calls to Pipedrive, paced and budgeted by the tap's own machinery.

Authentication (API token header or OAuth refresh), the guarded session, pacing from the
rate-limit headers, the reading of a 429 (wait or stop) and the token account are
tap-pipedrive's (``tap_pipedrive.auth``, ``transport``, ``rate_limit``, ``budget``): one
implementation of Pipedrive's limits. What is written here is what a writer needs and a
reader does not: a create is not idempotent, so a create that failed in a way that may have
reached Pipedrive (5xx, timeout, dropped connection) is never retried blindly; it leaves as
:class:`UncertainOutcome` and the caller looks for the object before trying again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from tap_pipedrive.auth import PipedriveOAuthAuthenticator, api_token_authenticator
from tap_pipedrive.budget import TokenBudget
from tap_pipedrive.errors import (
    ApiUnreachableError,
    AuthenticationError,
    BudgetExhausted,
    PipedriveError,
    RateLimited,
)
from tap_pipedrive.rate_limit import RequestPacer, daily_tokens_remaining, refusal
from tap_pipedrive.response import error_text, parse_payload
from tap_pipedrive.transport import (
    GuardedSession,
    is_wrong_address,
    network_failure,
    redact_url,
    request_label,
)

logger = logging.getLogger("target_pipedrive")

MAX_RATE_LIMIT_WAITS = 5
MAX_BACKOFF_SECONDS = 60.0
UNAUTHORIZED = 401
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500


class Rejected(Exception):  # noqa: N818 - Pipedrive's answer, not our failure
    """Pipedrive refused one request with a 4xx: nothing was written; the record's error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class UncertainOutcome(PipedriveError):  # noqa: N818 - a state, not a bug
    """A request failed in a way that may still have reached Pipedrive (5xx, no answer); when
    it stops the run, the command reports it in one line."""


class PipedriveClient:
    """One session, pacer and token account for a run."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = str(config.get("api_url") or "https://api.pipedrive.com").rstrip("/")
        if config.get("api_token"):
            self.auth: Any = api_token_authenticator(str(config["api_token"]))
        else:
            self.auth = PipedriveOAuthAuthenticator(
                client_id=str(config["client_id"]),
                client_secret=str(config["client_secret"]),
                refresh_token=str(config["refresh_token"]),
                token_url=str(config.get("oauth_token_url") or "")
                or "https://oauth.pipedrive.com/oauth/token",
            )
        self.session = GuardedSession()
        self.pacer = RequestPacer(clock=clock, sleep=sleep)
        self.budget = TokenBudget(config.get("daily_token_budget"))
        self.timeout = (
            float(config.get("connect_timeout", 10)),
            float(config.get("request_timeout", 30)),
        )
        self.max_retries = int(config.get("max_retries", 6))
        self.retry_base_delay = float(config.get("retry_base_delay", 1.0))
        self._sleep = sleep

    def backoff(self, attempt: int) -> None:
        """Wait before attempt ``attempt + 1`` (exponential, capped at a minute)."""
        self._sleep(min(self.retry_base_delay * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    def _url(self, version: str, path: str) -> str:
        base = self.base_url
        if isinstance(self.auth, PipedriveOAuthAuthenticator):
            self.auth.ensure_token()
            base = self.auth.api_domain or base
        return f"{base}/api/{version}{path}"

    def _send_once(
        self, method: str, url: str, cost: int, params: Any, body: Any, account: str
    ) -> requests.Response:
        """Send once through the burst window, waiting out 429s."""
        for _ in range(MAX_RATE_LIMIT_WAITS):
            self.budget.reserve(cost)
            self.pacer.wait_for_slot()
            request = requests.Request(method, url, params=params, json=body)
            prepared = self.session.prepare_request(request)
            self.auth(prepared)
            try:
                response = self.session.send(prepared, timeout=self.timeout)
            except requests.RequestException as exc:
                failure = f"{request_label(url, method)}: {network_failure(exc, *self.timeout)}"
                if is_wrong_address(exc):  # nothing reached Pipedrive, and no retry will
                    msg = f"{failure}; check api_url ({redact_url(self.base_url)})"
                    raise ApiUnreachableError(msg) from None
                raise UncertainOutcome(failure) from None
            self.pacer.observe(response.headers)
            if response.status_code == TOO_MANY_REQUESTS:
                limit = refusal(response.headers, cost, request_label(url, method))
                if isinstance(limit, BudgetExhausted):
                    raise limit
                assert isinstance(limit, RateLimited)
                logger.info("Pipedrive rate limit reached; waiting %.1f s", limit.wait_seconds)
                self.pacer.block_for(limit.wait_seconds)
                continue
            self.budget.charge(account, cost)
            if daily_tokens_remaining(response.headers) == 0:
                self.budget.exhaust("Pipedrive reports 0 daily tokens remaining")
            return response
        msg = (
            f"Pipedrive kept answering 429 after {MAX_RATE_LIMIT_WAITS} waits for the "
            "rate-limit window to reset; the daily token budget is probably spent"
        )
        raise BudgetExhausted(msg)

    def call(
        self,
        method: str,
        version: str,
        path: str,
        cost: int,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        retry_uncertain: bool = True,
    ) -> dict[str, Any]:
        """One API call; its JSON payload.

        Raises:
            Rejected: a 4xx other than 401/429 (nothing was written).
            UncertainOutcome: with ``retry_uncertain=False``, a 5xx or no answer (a create
                that may have happened); otherwise after ``max_retries`` attempts.
            BudgetExhausted: the run's or Pipedrive's daily budget is spent (nothing sent).
            AuthenticationError: the credentials were refused.
        """
        url = self._url(version, path)
        account = f"{method} {version}{path.split('/{')[0]}"
        refreshed = False
        for attempt in range(1, self.max_retries + 1):
            try:
                response = self._send_once(method, url, cost, params, body, account)
                status = response.status_code
                if status == UNAUTHORIZED:
                    auth = self.auth
                    if isinstance(auth, PipedriveOAuthAuthenticator) and not refreshed:
                        auth.invalidate()
                        refreshed = True
                        url = self._url(version, path)
                        continue
                    msg = f"Pipedrive rejected the credentials (HTTP 401 for {method} {path})"
                    raise AuthenticationError(msg)
                payload = parse_payload(response)
                if status >= SERVER_ERROR or payload is None:
                    raise UncertainOutcome(f"{request_label(url, method)}: HTTP {status}")
                if status >= 400:  # noqa: PLR2004
                    raise Rejected(status, error_text(response))
                if payload.get("success") is False:
                    raise Rejected(status, error_text(response))
                return payload
            except UncertainOutcome as exc:
                if not retry_uncertain:
                    raise
                if attempt == self.max_retries:
                    msg = f"{exc} on all {attempt} attempts; Pipedrive may be down, try later"
                    raise ApiUnreachableError(msg) from None
                logger.warning(
                    "%s; retrying (attempt %d of %d)", exc, attempt + 1, self.max_retries
                )
                self.backoff(attempt)
        msg = f"{method} {path} failed on all {self.max_retries} attempts"
        raise ApiUnreachableError(msg)
