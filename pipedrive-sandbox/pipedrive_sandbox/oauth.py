"""A minimal OAuth 2.0 token endpoint (``POST /oauth/token``, refresh_token grant only).

Like Pipedrive's: form-encoded body, client credentials in ``Authorization: Basic`` (or in the
body), short-lived access tokens with ``expires_in`` and ``api_domain``, and the same refresh
token returned on every refresh (notes section 7). Token lifetimes follow the sandbox clock, so
``advance_clock`` makes them expire. Tokens carry ``--oauth-scopes``; a call whose operation
(spec ``security``) needs none of them is a 403 "Scope and URL mismatch" (notes section 7).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from urllib.parse import parse_qs

from pipedrive_sandbox.clock import SandboxClock
from pipedrive_sandbox.config import SandboxConfig
from pipedrive_sandbox.routing import Response


def _error(status: int, error: str, message: str) -> Response:
    return Response(status, {"success": False, "error": error, "message": message})


class OAuthServer:
    """Issues and checks access tokens."""

    def __init__(self, config: SandboxConfig, clock: SandboxClock) -> None:
        self.config = config
        self.clock = clock
        self._tokens: dict[str, int] = {}  # access token -> expiry (sandbox epoch seconds)
        self._lock = threading.Lock()

    def is_valid(self, access_token: str) -> bool:
        """Whether a bearer token was issued here and has not expired."""
        with self._lock:
            expiry = self._tokens.get(access_token)
        return expiry is not None and self.clock.now() < expiry

    def grants(self, required: tuple[str, ...]) -> bool:
        """Whether issued tokens carry one of the scopes an operation needs."""
        return not required or any(scope in self.config.oauth_scopes for scope in required)

    def _client(self, authorization: str | None, form: dict[str, str]) -> tuple[str, str] | None:
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        if "client_id" in form:
            return form["client_id"], form.get("client_secret", "")
        return None

    def token(self, authorization: str | None, body: bytes, api_domain: str) -> Response:
        """Handle ``POST /oauth/token``."""
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        client = self._client(authorization, form)
        if client is None or not (
            hmac.compare_digest(client[0], self.config.oauth_client_id)
            and hmac.compare_digest(client[1], self.config.oauth_client_secret)
        ):
            return _error(401, "invalid_client", "Invalid client: client is invalid")
        grant = form.get("grant_type")
        if grant != "refresh_token":
            return _error(400, "unsupported_grant_type", "Unsupported grant type")
        refresh = form.get("refresh_token", "")
        if not hmac.compare_digest(refresh, self.config.oauth_refresh_token):
            return _error(400, "invalid_grant", "Invalid grant: refresh_token is invalid")
        access = f"sandbox-access-{secrets.token_urlsafe(24)}"
        ttl = self.config.oauth_access_token_ttl
        with self._lock:
            self._tokens[access] = self.clock.now() + ttl
        return Response(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": ",".join(self.config.oauth_scopes),
                "expires_in": ttl,
                "api_domain": api_domain,
            },
        )
