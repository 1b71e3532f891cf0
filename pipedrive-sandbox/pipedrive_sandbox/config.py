"""Run-time settings of one sandbox (set by CLI flags, some changeable via the control API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# 30,000 base tokens x plan multiplier 2 (Growth) x 5 seats (notes section 6.1).
DEFAULT_DAILY_BUDGET = 30_000 * 2 * 5
# Growth plan burst limit for API tokens, per rolling 2-second window (notes section 6.2).
DEFAULT_BURST_LIMIT = 40
# Every scope an operation the sandbox serves asks for (spec ``security``), so by default an
# OAuth access token may call everything an API token may.
DEFAULT_OAUTH_SCOPES = (
    "base",
    "deals:read",
    "deals:full",
    "contacts:read",
    "contacts:full",
    "activities:read",
    "activities:full",
    "leads:read",
    "leads:full",
    "recents:read",
    "users:read",
    "admin",
)


@dataclass
class SandboxConfig:
    """Everything that shapes a sandbox run."""

    seed: int = 7
    scale: int = 2000
    anchor: int | None = None  # epoch seconds; None = now truncated to the hour
    host: str = "127.0.0.1"
    port: int = 8765
    api_token: str = "sandbox-token"  # noqa: S105 - a public, documented test token
    burst_limit: int = DEFAULT_BURST_LIMIT  # 0 = unlimited
    burst_window: float = 2.0
    daily_budget: int = DEFAULT_DAILY_BUDGET  # 0 = unlimited
    retry_after: bool = False  # also send Retry-After on 429 (Pipedrive does not document it)
    unknown_params: str = "reject"  # or "ignore"
    marketing_app: bool = True  # False: no marketing_status/doi_status (--no-marketing-app)
    frozen_clock: bool = False
    oauth_client_id: str = "sandbox-client"
    oauth_client_secret: str = "sandbox-secret"  # noqa: S105 - public test credential
    oauth_refresh_token: str = "sandbox-refresh-token"  # noqa: S105 - public test credential
    oauth_access_token_ttl: int = 3600
    oauth_scopes: tuple[str, ...] = DEFAULT_OAUTH_SCOPES  # what issued access tokens carry
    faults: dict[str, Any] = field(default_factory=dict)
    fault_seed: int = 0
    verbose: bool = False
