"""Pipedrive token accounting: what this run spent, per stream, and when to stop.

Pipedrive charges every API call a number of tokens against a daily, company-wide budget
(``x-token-cost`` in the OpenAPI specs; each stream declares the cost of the endpoints it
calls, :mod:`tap_pipedrive.endpoints`). The tap charges each request it sends to the stream
that sent it, refuses to send a request that would take the run past ``daily_token_budget``,
and logs the totals with the run's metrics. A 429 costs nothing (Pipedrive rejected it before
doing the work); every other response is charged.
"""

from __future__ import annotations

import threading
from collections import Counter

from tap_pipedrive.errors import BudgetExhausted


class TokenBudget:
    """Tokens spent by this run, per stream, with an optional cap for the run."""

    def __init__(self, limit: int | None = None) -> None:
        """Start an empty account; ``limit`` is the ``daily_token_budget`` setting."""
        self.limit = limit
        self.spent_by_stream: Counter[str] = Counter()
        self.requests_by_stream: Counter[str] = Counter()
        self.exhausted_reason: str | None = None
        self._lock = threading.Lock()

    @property
    def spent(self) -> int:
        """Tokens spent by the whole run so far."""
        return sum(self.spent_by_stream.values())

    def reserve(self, cost: int) -> None:
        """Check that one more call of ``cost`` tokens fits in the run's cap.

        Raises:
            BudgetExhausted: if the call would take the run past ``daily_token_budget``, or
                Pipedrive already said the daily budget is spent.
        """
        if self.exhausted_reason is not None:
            raise BudgetExhausted(self.exhausted_reason)
        if self.limit is not None and self.spent + cost > self.limit:
            msg = (
                f"daily_token_budget of {self.limit} tokens reached "
                f"({self.spent} spent this run, the next call costs {cost})"
            )
            raise BudgetExhausted(msg)

    def charge(self, stream: str, cost: int) -> None:
        """Record one call of ``cost`` tokens made on behalf of ``stream``."""
        with self._lock:
            self.spent_by_stream[stream] += cost
            self.requests_by_stream[stream] += 1

    def exhaust(self, reason: str) -> None:
        """Remember that Pipedrive's daily budget is spent: no further call will be sent."""
        self.exhausted_reason = reason
