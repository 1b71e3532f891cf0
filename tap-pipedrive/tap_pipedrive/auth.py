"""Authentication: an API token in the ``x-api-token`` header, or OAuth 2.0 with a refresh token.

The API token never goes into a URL (Pipedrive accepts ``?api_token=``, but URLs end up in logs
and metrics). OAuth access tokens live about an hour; the authenticator refreshes one shortly
before it expires, and again when Pipedrive answers 401 to a token that is not brand new. The
token response's ``api_domain`` (the company's own domain, e.g. ``https://acme.pipedrive.com``)
is where the tap then sends its API calls, as Pipedrive asks OAuth apps to do. The token endpoint
is retried like the API (``max_retries`` attempts, exponential waits from ``retry_base_delay``)
on 5xx, 429, timeouts and dropped connections; only its 4xx answers mean the credentials are
wrong. Its requests go through the same :class:`~tap_pipedrive.transport.GuardedSession` as the
API's: a redirect to another host would resend the refresh token there.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import backoff
import requests
from singer_sdk.authenticators import APIKeyAuthenticator, OAuthAuthenticator

from tap_pipedrive.errors import AuthenticationError, TokenEndpointError
from tap_pipedrive.transport import (
    Attempts,
    GuardedSession,
    host_of,
    is_read_timeout,
    network_failure,
    redact_url,
)

DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"  # noqa: S105 - a URL
REFRESH_MARGIN_SECONDS = 60
FRESH_TOKEN_SECONDS = 5
MAX_BACKOFF_SECONDS = 60.0
TOO_MANY_REQUESTS = 429


class _Unavailable(Exception):  # noqa: N818 - internal signal to retry, never leaves this module
    """A token-endpoint failure worth another attempt; the message never contains a secret."""


def api_token_authenticator(token: str) -> APIKeyAuthenticator:
    """Send the personal API token in the ``x-api-token`` header."""
    return APIKeyAuthenticator(key="x-api-token", value=token, location="header")


class PipedriveOAuthAuthenticator(OAuthAuthenticator):
    """Refresh-token grant against Pipedrive's token endpoint (client credentials as Basic)."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_tries: int = 6,
        retry_base_delay: float = 1.0,
    ) -> None:
        """Remember the credentials; no request is made until the first API call."""
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        super().__init__(
            auth_endpoint=token_url,
            oauth_headers={"Authorization": f"Basic {basic}"},
            client_id=client_id,
            client_secret=client_secret,
        )
        self.refresh_token = refresh_token
        self.api_domain: str | None = None
        self._timeout = timeout
        self._session = GuardedSession()
        self._max_tries = max_tries
        self._retry_base_delay = retry_base_delay

    @property
    def oauth_request_body(self) -> dict:
        """The refresh-token grant."""
        return {"grant_type": "refresh_token", "refresh_token": self.refresh_token}

    def is_token_valid(self) -> bool:
        """Valid until ``REFRESH_MARGIN_SECONDS`` before Pipedrive's expiry."""
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        age = (dt.datetime.now(dt.UTC) - self.last_refreshed).total_seconds()
        return age < self.expires_in - REFRESH_MARGIN_SECONDS

    def is_token_fresh(self) -> bool:
        """Whether the token was obtained a moment ago (a 401 on it is not an expiry)."""
        if self.last_refreshed is None:
            return False
        age = (dt.datetime.now(dt.UTC) - self.last_refreshed).total_seconds()
        return age < FRESH_TOKEN_SECONDS

    def invalidate(self) -> None:
        """Forget the access token so the next request refreshes it."""
        self.access_token = None
        self.last_refreshed = None

    def ensure_token(self) -> None:
        """Refresh the access token if it is missing or about to expire."""
        if not self.is_token_valid():
            self.update_access_token()

    def _post_once(self) -> requests.Response:
        try:
            response = self._session.post(
                self.auth_endpoint,
                headers=self._oauth_headers,
                data=self.oauth_request_payload,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise _Unavailable(network_failure(exc, *self._timeout)) from None
        if response.status_code >= 500 or response.status_code == TOO_MANY_REQUESTS:  # noqa: PLR2004
            raise _Unavailable(f"HTTP {response.status_code}")
        return response

    def _log_retry(self, details: Any) -> None:
        self.logger.warning(
            "The OAuth token endpoint failed (%s); retrying in %.1f s",
            details.get("exception"),
            details.get("wait", 0.0),
        )

    def _post(self) -> requests.Response:
        """POST the grant, retrying failures that say nothing about the credentials (an answer
        that timed out three times in a row is given up, as the API's requests are)."""
        attempts = Attempts()
        retrying = backoff.on_exception(
            backoff.expo,
            _Unavailable,
            max_tries=self._max_tries,
            # counts every failure; only the read timeouts cut the retries short here (a
            # refused connection keeps its retries, as the token endpoint always had)
            giveup=lambda exc: attempts.give_up(exc) and is_read_timeout(exc),
            logger=None,
            on_backoff=self._log_retry,
            base=2,
            factor=self._retry_base_delay,
            max_value=MAX_BACKOFF_SECONDS,
        )(self._post_once)
        try:
            return retrying()
        except _Unavailable as exc:
            counted = f"all {self._max_tries}" if attempts.failed >= self._max_tries else None
            msg = (
                f"the OAuth token endpoint {redact_url(self.auth_endpoint)} failed on "
                f"{counted or attempts.failed} attempts ({exc}); Pipedrive may be down, try "
                "again later"
            )
            raise TokenEndpointError(msg) from None

    def update_access_token(self) -> None:
        """Exchange the refresh token for an access token (and the company's api_domain).

        Raises:
            AuthenticationError: if the token endpoint rejects the credentials (4xx) or answers
                something that is not a token; the message never contains a secret.
            TokenEndpointError: if it failed on every attempt (5xx, 429, no connection).
        """
        requested_at = dt.datetime.now(dt.UTC)
        response = self._post()
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:  # noqa: PLR2004
            reason = body.get("message") or body.get("error") if isinstance(body, dict) else None
            msg = (
                "the OAuth token endpoint rejected the refresh token (HTTP "
                f"{response.status_code} from {host_of(self.auth_endpoint)}"
                f"{': ' + str(reason) if reason else ''}); "
                "check client_id, client_secret and refresh_token"
            )
            raise AuthenticationError(msg)
        self.access_token = body["access_token"]
        self.refresh_token = body.get("refresh_token") or self.refresh_token
        expires_in = body.get("expires_in")
        self.expires_in = int(expires_in) if expires_in else None
        self.api_domain = str(body["api_domain"]).rstrip("/") if body.get("api_domain") else None
        self.last_refreshed = requested_at
        self.logger.info("Obtained a Pipedrive OAuth access token")
