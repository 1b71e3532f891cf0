"""Pipedrive's webhook subscription API (``GET``/``POST``/``DELETE /api/v1/webhooks``).

Authentication is tap-pipedrive's own (``tap_pipedrive.auth``: the ``x-api-token`` header, or
the OAuth refresh-token flow whose ``api_domain`` is used when ``api_url`` is unset), and the
credentials and ``api_url`` are checked by the tap's own rules (``tap_pipedrive.settings``), so
the two read the same settings the same way. Requests are not retried: every command is
idempotent, so running it again is the retry. Redirects are not followed (the token header would
go with them). Responses carry ``http_auth_password`` (SPEC v1 ``BaseWebhook``): they are never
logged, and every error message is scrubbed of the secrets this client knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from tap_pipedrive.auth import (
    DEFAULT_TOKEN_URL,
    PipedriveOAuthAuthenticator,
    api_token_authenticator,
)
from tap_pipedrive.errors import PipedriveError
from tap_pipedrive.settings import (
    CONFIG_JSONSCHEMA,
    DEFAULT_API_URL,
    config_errors,
    secret_names,
    split_api_url,
)

from pipedrive_webhooks.errors import PipedriveApiError

CREDENTIAL_SETTINGS = ("api_token", "client_id", "client_secret", "refresh_token")
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
TOO_MANY_WEBHOOKS = 422


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if not isinstance(body, dict):
        return str(body)[:200]
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        return "; ".join(f"{key}: {', '.join(map(str, value))}" for key, value in errors.items())
    return str(body.get("error") or body.get("message") or response.reason)


class WebhooksApi:
    """List, create and delete the company's webhooks."""

    def __init__(self, config: Mapping[str, Any], *, timeout: float = 60.0) -> None:
        """Check the credentials and ``api_url`` (no request yet).

        Raises:
            PipedriveApiError: naming every problem of the settings, never a secret's value.
        """
        settings = {
            key: config[key]
            for key in (*CREDENTIAL_SETTINGS, "api_url", "oauth_token_url")
            if config.get(key)
        }
        problems = config_errors(settings, CONFIG_JSONSCHEMA, secret_names(CONFIG_JSONSCHEMA))
        if problems:
            raise PipedriveApiError("invalid Pipedrive settings: " + "; ".join(problems))
        self._secrets = [str(settings[key]) for key in CREDENTIAL_SETTINGS if key in settings]
        self._api_url = settings.get("api_url")
        self._timeout = timeout
        if settings.get("api_token"):
            self._auth: Any = api_token_authenticator(str(settings["api_token"]))
            self._kind = "api_token"
        else:
            self._auth = PipedriveOAuthAuthenticator(
                client_id=str(settings["client_id"]),
                client_secret=str(settings["client_secret"]),
                refresh_token=str(settings["refresh_token"]),
                token_url=str(settings.get("oauth_token_url") or DEFAULT_TOKEN_URL),
                max_tries=3,
            )
            self._kind = "OAuth access token"
        self._session = requests.Session()
        self._session.auth = self._auth

    def add_secret(self, secret: str) -> None:
        """Also scrub ``secret`` (the webhooks' Basic auth password) from error messages."""
        self._secrets.append(secret)

    def _base_url(self) -> str:
        if isinstance(self._auth, PipedriveOAuthAuthenticator):
            self._auth.ensure_token()
            if self._auth.api_domain and not self._api_url:
                return self._auth.api_domain
        return split_api_url(str(self._api_url or DEFAULT_API_URL))[0]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        shown = f"{method} /api/v1{path}"
        try:
            url = f"{self._base_url()}/api/v1{path}"
            response = self._session.request(
                method, url, json=body, timeout=self._timeout, allow_redirects=False
            )
        except PipedriveError as exc:  # the tap's OAuth errors: one line, no secret
            raise PipedriveApiError(redact(str(exc), self._secrets)) from None
        except requests.RequestException as exc:
            msg = f"could not reach Pipedrive for {shown}: {type(exc).__name__}"
            raise PipedriveApiError(msg) from None
        status = response.status_code
        if response.is_redirect:
            target = urlsplit(response.headers.get("location", "")).netloc or "another URL"
            msg = (
                f"Pipedrive redirected {shown} to {target} (HTTP {status}); the credentials are "
                "not sent after a redirect: set api_url to the address that answers directly"
            )
            raise PipedriveApiError(msg, status)
        if status == UNAUTHORIZED:
            msg = (
                f"Pipedrive rejected the {self._kind} (HTTP 401 for {shown}); check the credentials"
            )
            raise PipedriveApiError(msg)
        if status == FORBIDDEN:
            msg = (
                f"Pipedrive refused {shown} (HTTP 403: {_reason(response)}); managing webhooks "
                "needs an admin user's api_token or an OAuth app with the admin scope"
            )
            raise PipedriveApiError(redact(msg, self._secrets))
        if status == TOO_MANY_WEBHOOKS:
            msg = (
                f"Pipedrive refused {shown} (HTTP 422: {_reason(response)}); a user may have at "
                "most 40 webhooks: remove unused ones or subscribe fewer objects"
            )
            raise PipedriveApiError(redact(msg, self._secrets))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if status >= 300 or not isinstance(payload, dict) or payload.get("success") is False:  # noqa: PLR2004
            msg = f"Pipedrive answered HTTP {status} for {shown}: {_reason(response)}"
            raise PipedriveApiError(redact(msg, self._secrets), status)
        return payload.get("data")

    def list(self) -> list[dict[str, Any]]:
        """Every webhook of the company (SPEC v1 ``getWebhooks``)."""
        data = self._call("GET", "/webhooks")
        return [hook for hook in data or [] if isinstance(hook, dict)]

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        """Create one webhook (SPEC v1 ``addWebhook``); Pipedrive's answer ``data``."""
        data = self._call("POST", "/webhooks", request)
        return data if isinstance(data, dict) else {}

    def delete(self, webhook_id: int) -> bool:
        """Delete one webhook (SPEC v1 ``deleteWebhook``); False if it was already gone."""
        try:
            self._call("DELETE", f"/webhooks/{int(webhook_id)}")
        except PipedriveApiError as exc:
            if exc.status == NOT_FOUND:
                return False
            raise
        return True
