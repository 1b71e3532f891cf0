"""The Pipedrive endpoints a stream calls, each with its token cost, declared by the stream.

Pipedrive charges every call its endpoint's ``x-token-cost`` (spec/pipedrive-openapi/). A
stream class lists every endpoint it may call in ``endpoints``, so adding a stream is one class
and its costs travel with it; ``tap-pipedrive/tests/test_tap_units.py`` checks each declared
endpoint against the specs. :mod:`tap_pipedrive.budget` only keeps the account.
"""

from __future__ import annotations

from typing import NamedTuple


class Endpoint(NamedTuple):
    """One endpoint as the spec names it: ``("v1", "/deals/{id}/changelog", 20)``."""

    api_version: str
    """``v1`` or ``v2``: the URL prefix ``/api/{api_version}``."""
    path: str
    """The path template as the spec writes it (``/deals/{id}/changelog``)."""
    token_cost: int
    """Its ``x-token-cost``: what Pipedrive charges one call."""
