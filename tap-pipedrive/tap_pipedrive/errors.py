"""Errors the tap reports to its user as one line.

Every message here names the problem and what to do about it, and never contains a secret.
"""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError, RetriableAPIError


class PipedriveError(Exception):
    """Base of every error the tap explains to its user in one line."""


class ConfigError(PipedriveError):
    """A missing or invalid setting, or a catalog that names a stream the tap does not have."""


class AuthenticationError(PipedriveError, FatalAPIError):
    """Pipedrive rejected the credentials (HTTP 401, or the OAuth token endpoint said no)."""


class TokenEndpointError(PipedriveError):
    """The OAuth token endpoint failed on every attempt (5xx, 429, timeout, no connection):
    a Pipedrive outage, not a sign of wrong credentials."""


class InvalidStateError(PipedriveError):
    """The state given to the tap is not JSON, or not shaped like a Singer state."""


class ApiUnreachableError(PipedriveError):
    """A request failed on every attempt (no connection, no answer, dropped connections, 5xx):
    the message names the host and the ``api_url`` it came from."""


class RedirectRefusedError(PipedriveError):
    """Pipedrive (or what answers at ``api_url``) redirected a request to another host, port or
    scheme: following it would send the credentials there."""


class PaginationLoopError(PipedriveError):
    """The server handed out a page position (cursor or offset) it had already given: paging
    on would never end."""


class BudgetExhausted(PipedriveError):  # noqa: N818 - it is a condition, not a failure
    """The Pipedrive daily token budget, or the configured ``daily_token_budget``, is spent.

    The tap stops cleanly on it: exit code 0 and a final STATE from which the next run resumes.
    """


class RateLimited(RetriableAPIError):  # noqa: N818 - named after the HTTP condition
    """HTTP 429 within the burst window: wait until the window resets, then retry."""

    def __init__(self, message: str, wait_seconds: float) -> None:
        """Remember how long Pipedrive asked us to wait."""
        super().__init__(message)
        self.wait_seconds = wait_seconds


class TransientResponseError(RetriableAPIError):
    """A response that should be retried after a backoff: 5xx, truncated or null body."""


class MarketingFieldsRefusedError(FatalAPIError):
    """HTTP 400, 403 or 422 to a persons request with ``include_fields=marketing_status,
    doi_status``: the account may have no marketing app (the persons stream retries without the
    two fields)."""

    def __init__(self, status: int, reason: str) -> None:
        """Remember Pipedrive's status and words."""
        super().__init__(reason)
        self.status = status


class FieldListRefusedError(FatalAPIError):
    """A JSON HTTP 403 (Pipedrive's "Scope and URL mismatch": the OAuth token lacks a scope the
    endpoint needs) or 404 to a field-definitions list."""

    def __init__(self, status: int, path: str, reason: str) -> None:
        """Remember what was refused and why."""
        super().__init__(f"HTTP {status} for GET {path}: {reason}")
        self.status = status
        self.path = path
        self.reason = reason
