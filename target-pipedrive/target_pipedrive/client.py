"""Calls to Pipedrive, paced and budgeted by the tap's own machinery.

Authentication (API token header or OAuth refresh), the guarded session, pacing from the
rate-limit headers, the reading of a 429 (wait or stop) and the token account are
tap-pipedrive's (``tap_pipedrive.auth``, ``transport``, ``rate_limit``, ``budget``): one
implementation of Pipedrive's limits. What is written here is what a writer needs and a
reader does not: a create is not idempotent, so a create that failed in a way that may have
reached Pipedrive (5xx, timeout, dropped connection) is never retried blindly; it leaves as
:class:`UncertainOutcome` and the caller looks for the object before trying again.

Calls may come from several threads (the runner's pool): the pacer gives each its place in the
burst window, and the tokens of calls under way are held against ``daily_token_budget`` until
they are charged, so concurrent calls never take the run past it. ``admit`` holds them for a
call before it is handed to a thread, in the order of the records.
"""

from __future__ import annotations

import logging
import threading
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
        self._lock = threading.Lock()  # the token account and the OAuth token
        self._in_flight = 0  # tokens held for calls under way, not charged yet

    def admit(self, cost: int) -> None:
        """Hold ``cost`` tokens for a call about to be made (``call(..., admitted=True)``).

        Raises:
            BudgetExhausted: the call would take the run past the budget, counting the calls
                under way, or Pipedrive said the daily budget is spent.
        """
        with self._lock:
            budget = self.budget
            budget.reserve(cost)
            if budget.limit is not None and budget.spent + self._in_flight + cost > budget.limit:
                msg = (
                    f"daily_token_budget of {budget.limit} tokens reached ({budget.spent} spent "
                    f"this run, {self._in_flight} held for calls under way, the next call "
                    f"costs {cost})"
                )
                raise BudgetExhausted(msg)
            self._in_flight += cost

    def _settle(self, cost: int, account: str | None) -> None:
        """Let go of a call's held tokens, charging them to ``account`` if it was answered."""
        with self._lock:
            self._in_flight -= cost
            if account is not None:
                self.budget.charge(account, cost)

    def backoff(self, attempt: int) -> None:
        """Wait before attempt ``attempt + 1`` (exponential, capped at a minute)."""
        self._sleep(min(self.retry_base_delay * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    def _url(self, version: str, path: str) -> str:
        base = self.base_url
        if isinstance(self.auth, PipedriveOAuthAuthenticator):
            with self._lock:
                self.auth.ensure_token()
            base = self.auth.api_domain or base
        return f"{base}/api/{version}{path}"

    def _send_once(
        self,
        method: str,
        url: str,
        cost: int,
        params: Any,
        body: Any,
        account: str,
        *,
        admitted: bool,
    ) -> requests.Response:
        """Send once through the burst window, waiting out 429s (``admitted``: the tokens of
        the first attempt are already held)."""
        for _ in range(MAX_RATE_LIMIT_WAITS):
            if not admitted:
                self.admit(cost)
            admitted = False
            answered: str | None = None
            try:
                place = self.pacer.wait_for_slot()
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
                self.pacer.observe(response.headers, place)
                if response.status_code == TOO_MANY_REQUESTS:
                    limit = refusal(response.headers, cost, request_label(url, method))
                    if isinstance(limit, BudgetExhausted):
                        raise limit
                    assert isinstance(limit, RateLimited)
                    logger.info("Pipedrive rate limit reached; waiting %.1f s", limit.wait_seconds)
                    self.pacer.block_for(limit.wait_seconds)
                    continue
                answered = account
            finally:
                self._settle(cost, answered)
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
        admitted: bool = False,
    ) -> dict[str, Any]:
        """One API call; its JSON payload (``admitted``: ``admit(cost)`` was called for it).

        Raises:
            Rejected: a 4xx other than 401/429 (nothing was written).
            UncertainOutcome: with ``retry_uncertain=False``, a 5xx or no answer (a create
                that may have happened); otherwise after ``max_retries`` attempts.
            BudgetExhausted: the run's or Pipedrive's daily budget is spent (nothing sent).
            AuthenticationError: the credentials were refused.
        """
        try:
            url = self._url(version, path)
        except BaseException:
            if admitted:
                self._settle(cost, None)
            raise
        account = f"{method} {version}{path.split('/{')[0]}"
        refreshed = False
        for attempt in range(1, self.max_retries + 1):
            try:
                held, admitted = admitted, False  # the held tokens serve the first attempt
                response = self._send_once(method, url, cost, params, body, account, admitted=held)
                status = response.status_code
                if status == UNAUTHORIZED:
                    auth = self.auth
                    if isinstance(auth, PipedriveOAuthAuthenticator) and not refreshed:
                        with self._lock:
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
