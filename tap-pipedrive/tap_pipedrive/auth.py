"""Authentication: an API token in the ``x-api-token`` header, or OAuth 2.0 with a refresh token.

The API token never goes into a URL (Pipedrive accepts ``?api_token=``, but URLs end up in logs
and metrics). OAuth access tokens live about an hour; the authenticator refreshes one shortly
before it expires, and again when Pipedrive answers 401 to a token that is not brand new. The
token response's ``api_domain`` (the company's own domain, e.g. ``https://acme.pipedrive.com``)
is where the tap then sends its API calls, as Pipedrive asks OAuth apps to do.
"""

from __future__ import annotations

import base64
import datetime as dt

import requests
from singer_sdk.authenticators import APIKeyAuthenticator, OAuthAuthenticator

from tap_pipedrive.errors import AuthenticationError

DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"  # noqa: S105 - a URL
REFRESH_MARGIN_SECONDS = 60
FRESH_TOKEN_SECONDS = 5


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
        timeout: float = 60,
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

    def update_access_token(self) -> None:
        """Exchange the refresh token for an access token (and the company's api_domain).

        Raises:
            AuthenticationError: if the token endpoint rejects the credentials or answers
                something that is not a token; the message never contains a secret.
        """
        requested_at = dt.datetime.now(dt.UTC)
        try:
            response = requests.post(
                self.auth_endpoint,
                headers=self._oauth_headers,
                data=self.oauth_request_payload,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            msg = (
                f"could not reach the OAuth token endpoint {self.auth_endpoint}: "
                f"{type(exc).__name__}"
            )
            raise AuthenticationError(msg) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:  # noqa: PLR2004
            reason = body.get("message") or body.get("error") if isinstance(body, dict) else None
            msg = (
                f"the OAuth token endpoint rejected the refresh token "
                f"(HTTP {response.status_code}{': ' + str(reason) if reason else ''}); "
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
