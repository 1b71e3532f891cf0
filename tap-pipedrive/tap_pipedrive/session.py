"""What a stream may use of its run: the services every stream of the run shares.

Streams hold the run as a :class:`RunSession`, not as the whole tap, so what a child asks of
its parent is this short list. :class:`~tap_pipedrive.tap.TapPipedrive` provides it (each
service is made once per run, on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from singer_sdk.mapper import PluginMapper

    from tap_pipedrive.budget import TokenBudget
    from tap_pipedrive.custom_fields import CustomFieldSet
    from tap_pipedrive.rate_limit import RequestPacer
    from tap_pipedrive.spool_reader import SpoolReader


class RunSession(Protocol):
    """The run's shared services, as the streams use them."""

    authenticator: Any
    """The API token header or the OAuth refresh-token flow."""
    api_base_url: str
    """Where API calls go (``api_url``, or the OAuth token's ``api_domain``)."""
    budget: TokenBudget
    """The run's token account and ``daily_token_budget``."""
    pacer: RequestPacer
    """Burst-window pacing, one for every stream (the limit is per token)."""
    initialized_at: int
    """When the run started (epoch milliseconds): one clock for the run's decisions."""
    spool: SpoolReader
    """The webhook spool (live mode)."""
    spool_through: int
    """The spool position every stream of a live run reads up to."""
    mapper: PluginMapper
    """The stream maps, rebuilt when a live run learns new custom fields."""

    def custom_field_set(self, field_stream_name: str) -> CustomFieldSet | None:
        """The field registry: the custom fields one field stream describes."""

    def refresh_fields(self, field_stream_name: str) -> bool:
        """Read one field list again (live mode, at most once per run)."""
