"""The base stream's HTTP: one Pipedrive endpoint's URL from ``api_url``, the shared
authenticator, query parameters, paging, pacing from the rate-limit headers, token accounting,
retries with backoff, and responses classified and parsed (orjson, inside the retry loop).

The rest of a stream's work lives beside it: the schema and record shaping in
:mod:`tap_pipedrive.records`, FULL_TABLE table versions in :mod:`tap_pipedrive.versioning`,
incremental reading and reconciliation passes in :mod:`tap_pipedrive.incremental`, the live
mode in :mod:`tap_pipedrive.live`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import backoff
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator

from tap_pipedrive.auth import PipedriveOAuthAuthenticator
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.errors import (
    ApiUnreachableError,
    AuthenticationError,
    BudgetExhausted,
    RateLimited,
    TransientResponseError,
)
from tap_pipedrive.pagination import CursorPaginator
from tap_pipedrive.rate_limit import daily_tokens_remaining, refusal
from tap_pipedrive.records import ShapedRecords
from tap_pipedrive.response import error_text, parse_payload, payload_of, unreadable_records
from tap_pipedrive.transport import (
    Attempts,
    GuardedSession,
    is_wrong_address,
    network_failure,
    redact_url,
    request_label,
)
from tap_pipedrive.versioning import VersionedRecords

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.session import RunSession
    from tap_pipedrive.tap import TapPipedrive

# A 429 that is still there after this many waits for the burst window to reset is the daily
# budget (Pipedrive does not always say so in a header): stop cleanly instead of hammering.
MAX_RATE_LIMIT_WAITS = 5
MAX_BACKOFF_SECONDS = 60.0
# What the SDK retries: its own list, given here because the tap runs the backoff itself.
RETRIED_FAILURES = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class PipedriveStream(ShapedRecords, VersionedRecords, RESTStream[Any]):
    """A Pipedrive list endpoint."""

    endpoints: ClassVar[tuple[Endpoint, ...]]
    """Every endpoint this stream may call, with its token cost (checked against the specs by
    the tests); the first is the one it reads unless :meth:`endpoint` picks another."""
    extra_params: ClassVar[Mapping[str, str]] = {}
    """Query parameters every request of this stream sends."""
    paginated: bool = True
    """False for endpoints that return everything in one response."""

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any] | None = None) -> None:
        """Create the stream; the schema defaults to the one generated from the specs."""
        self.session: RunSession = tap
        self._request_cost = 0
        super().__init__(tap=tap, schema=schema)

    @property
    def live(self) -> bool:
        """Live mode: records come from the webhook spool, not from the lists."""
        return bool(self.config.get("webhook_spool"))

    # -- requests -----------------------------------------------------------------------------

    def endpoint(self, context: Context | None) -> Endpoint:  # noqa: ARG002
        """The endpoint a request in ``context`` calls, and the tokens it pays."""
        return self.endpoints[0]

    @property
    def path(self) -> str:  # type: ignore[override] - the SDK's class attribute, derived here
        """The endpoint's path after ``url_base``."""
        return self.endpoint(None).path

    @property
    def url_base(self) -> str:
        """``{api_url}/api/v1`` or ``{api_url}/api/v2``."""
        return f"{self.session.api_base_url}/api/{self.endpoint(None).api_version}"

    @property
    def authenticator(self) -> Any:
        """The run's authenticator (API token header or OAuth bearer), shared by all streams."""
        return self.session.authenticator

    @property
    def timeout(self) -> tuple[float, float]:  # type: ignore[override] - requests takes a pair
        """``(connect_timeout, request_timeout)``: seconds to connect, then to get an answer."""
        return (
            float(self.config.get("connect_timeout", 10)),
            float(self.config.get("request_timeout", 30)),
        )

    @property
    def requests_session(self) -> requests.Session:
        """A session that refuses redirects carrying the credentials to another host."""
        if not isinstance(self._requests_session, GuardedSession):
            self._requests_session = GuardedSession()
        return self._requests_session

    @property
    def page_size(self) -> int:
        """``page_size`` records per request (Pipedrive's maximum is 500)."""
        return int(self.config.get("page_size", 500))

    def get_new_paginator(self) -> BaseAPIPaginator | None:
        """Cursor pagination, or None (single page) for unpaginated endpoints."""
        return CursorPaginator() if self.paginated else None

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002 - subclasses use it
        next_page_token: Any,
    ) -> dict[str, Any]:
        """Page size, cursor and the stream's extra parameters."""
        params: dict[str, Any] = dict(self.extra_params)
        if self.paginated:
            params["limit"] = self.page_size
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    def request_decorator(self, func: Callable) -> Callable:
        """Pace, budget and rate-limit every attempt; retry transient failures with backoff.

        Inner loop (per attempt): refuse to send past ``daily_token_budget``, wait for the burst
        window, send; on 429 wait for the window to reset and try again, and after
        ``MAX_RATE_LIMIT_WAITS`` such waits treat the budget as spent. Outer (backoff, as the
        SDK's but logging one warning per retry): 5xx, timeouts, dropped connections and
        unreadable bodies, with exponential waits; not a refused connection or a host name that
        does not exist (the address is wrong, waiting will not help), nor a fourth time an
        answer that timed out three times in a row (:class:`Attempts`). A failure that survives
        every attempt leaves as :class:`ApiUnreachableError`, one line naming the host and
        ``api_url``.
        """
        budget = self.session.budget
        pacer = self.session.pacer

        def send(prepared_request: requests.PreparedRequest, context: Context | None) -> Any:
            cost = self.endpoint(context).token_cost
            for _ in range(MAX_RATE_LIMIT_WAITS):
                budget.reserve(cost)
                pacer.wait_for_slot()
                self._request_cost = cost
                try:
                    return func(prepared_request, context)
                except RateLimited as exc:
                    self.logger.info(
                        "Pipedrive rate limit reached; waiting %.1f s for the window to reset",
                        exc.wait_seconds,
                    )
                    pacer.block_for(exc.wait_seconds)
            msg = (
                f"Pipedrive kept answering 429 after {MAX_RATE_LIMIT_WAITS} waits for the "
                "rate-limit window to reset; the daily token budget is probably spent"
            )
            raise BudgetExhausted(msg)

        def send_or_explain(request: requests.PreparedRequest, context: Context | None) -> Any:
            attempts = Attempts()
            retrying = backoff.on_exception(
                self.backoff_wait_generator,
                RETRIED_FAILURES,
                max_tries=self.backoff_max_tries,
                on_backoff=self.backoff_handler,
                giveup=attempts.give_up,
                jitter=self.backoff_jitter,
                logger=None,
            )(send)
            try:
                return retrying(request, context)
            except RETRIED_FAILURES as exc:
                tries = self.backoff_max_tries()
                counted = f"all {tries}" if attempts.failed >= tries else f"{attempts.failed}"
                said = "" if is_wrong_address(exc) else f" on {counted} attempts"
                msg = (
                    f"{self._where(request)} failed{said}: "
                    f"{self._failure(exc)}; {self._advice(exc)}"
                )
                raise ApiUnreachableError(msg) from None

        return send_or_explain

    def backoff_handler(self, details: Any) -> None:
        """One warning per retry: the request, its host, what happened and the next wait."""
        request = details["args"][0]
        self.logger.warning(
            "%s failed (%s); retrying in %.1f s (attempt %d of %d)",
            self._where(request),
            self._failure(details["exception"]),
            details.get("wait") or 0.0,
            details["tries"] + 1,
            self.backoff_max_tries(),
        )

    @staticmethod
    def _where(request: requests.PreparedRequest | requests.Response) -> str:
        """``GET /api/v2/persons on api.pipedrive.com``: the request and its host, no query."""
        return request_label(request.url or "")

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, RetriableAPIError):
            return str(exc)
        connect, read = self.timeout
        return network_failure(exc, connect, read)

    def _advice(self, exc: BaseException) -> str:
        """What to check: the address the tap used, or (it answered) Pipedrive's status."""
        if isinstance(exc, RetriableAPIError):
            return "Pipedrive may be down, try again later"
        base = redact_url(self.session.api_base_url)
        if self.config.get("api_url") or not isinstance(
            self.authenticator, PipedriveOAuthAuthenticator
        ):
            later = "" if is_wrong_address(exc) else " or try again later"
            return f"check api_url ({base}){later}"
        return f"check the OAuth token's api_domain ({base}) or set api_url"

    def backoff_wait_generator(self) -> Any:
        """Exponential waits from ``retry_base_delay`` seconds, capped at a minute."""
        base = float(self.config.get("retry_base_delay", 1.0))
        return backoff.expo(base=2, factor=base, max_value=MAX_BACKOFF_SECONDS)

    def backoff_max_tries(self) -> int:
        """Attempts per request before a transient failure fails the run."""
        return int(self.config.get("max_retries", 6))

    def validate_response(self, response: requests.Response) -> None:
        """Classify a response: rate limit, budget, auth, transient, fatal, or good JSON."""
        headers = response.headers
        self.session.pacer.observe(headers)
        status = response.status_code
        where = self._where(response)
        if status == 429:  # noqa: PLR2004
            raise refusal(headers, self._request_cost, where)
        self.session.budget.charge(self.name, self._request_cost)
        if status == 401:  # noqa: PLR2004
            self._handle_unauthorized(where)
        if status >= 500 or (status == 403 and parse_payload(response) is None):  # noqa: PLR2004
            # 5xx (incl. Cloudflare's 524) and Cloudflare's HTML 403 are transient.
            raise TransientResponseError(f"HTTP {status}", response)
        if status >= 400:  # noqa: PLR2004
            msg = f"Pipedrive answered HTTP {status} for {where}: {error_text(response)}"
            raise FatalAPIError(msg)
        payload = parse_payload(response)
        if payload is None:
            msg = f"an unreadable or empty JSON body (HTTP {status})"
            raise TransientResponseError(msg, response)
        if payload.get("success") is False:
            msg = f"Pipedrive reported an error for {where}: {error_text(response)}"
            raise FatalAPIError(msg)
        if daily_tokens_remaining(headers) == 0:
            self.session.budget.exhaust("Pipedrive reports 0 daily tokens remaining")

    def _handle_unauthorized(self, where: str) -> None:
        auth = self.authenticator
        if isinstance(auth, PipedriveOAuthAuthenticator) and not auth.is_token_fresh():
            auth.invalidate()  # expired or revoked early: refresh and retry once
            raise TransientResponseError("HTTP 401; refreshing the OAuth access token")
        kind = (
            "OAuth access token" if isinstance(auth, PipedriveOAuthAuthenticator) else "api_token"
        )
        msg = f"Pipedrive rejected the {kind} (HTTP 401 for {where}); check the credentials"
        raise AuthenticationError(msg)

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The ``data`` array of the (already parsed) payload; a record that could not be
        parsed is skipped with one warning naming it, and the page's other records are read."""
        for skipped in unreadable_records(response):
            self.logger.warning(
                "Skipped record id %s of %s: %s; the page's other records were read",
                "unknown" if skipped.record_id is None else skipped.record_id,
                self._where(response),
                skipped.reason,
            )
        data = payload_of(response).get("data")
        if data is None:
            return []
        return data if isinstance(data, list) else [data]
