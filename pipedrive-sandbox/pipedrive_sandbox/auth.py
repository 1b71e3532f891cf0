"""Who is calling: the API token (``x-api-token`` header or legacy ``api_token`` query
parameter) or an OAuth access token (``Authorization: Bearer``)."""

from __future__ import annotations

import hmac
from email.message import Message

from pipedrive_sandbox.config import SandboxConfig
from pipedrive_sandbox.oauth import OAuthServer


def identify(
    headers: Message, query: dict[str, list[str]], config: SandboxConfig, oauth: OAuthServer
) -> str | None:
    """An identity for rate limiting (``api-token`` or ``oauth``), or ``None`` if unauthorised."""
    token = headers.get("x-api-token") or (query.get("api_token") or [None])[0]
    if token is not None:
        return "api-token" if hmac.compare_digest(token, config.api_token) else None
    authorization = headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):
        access = authorization[7:].strip()
        return "oauth" if oauth.is_valid(access) else None
    return None
