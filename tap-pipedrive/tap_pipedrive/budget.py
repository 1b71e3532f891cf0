"""Pipedrive token accounting: what each call costs, what this run spent, when to stop.

Pipedrive charges every API call a number of tokens against a daily, company-wide budget
(``x-token-cost`` in the OpenAPI specs). The tap charges each request it sends to the stream that
sent it, refuses to send a request that would take the run past ``daily_token_budget``, and logs
the totals with the run's metrics. A 429 costs nothing (Pipedrive rejected it before doing the
work); every other response is charged.
"""

from __future__ import annotations

import threading
from collections import Counter

from tap_pipedrive.errors import BudgetExhausted

# (API version, path template) → x-token-cost, for every endpoint the tap calls.
# tap-pipedrive/tests/test_tap_units.py checks each entry against the specs
# (spec/pipedrive-openapi/v{1,2}.yaml).
TOKEN_COSTS: dict[tuple[str, str], int] = {
    ("v2", "/persons"): 10,
    ("v2", "/organizations"): 10,
    ("v2", "/deals"): 10,
    ("v2", "/deals/archived"): 20,
    ("v2", "/activities"): 10,
    ("v2", "/pipelines"): 5,
    ("v2", "/stages"): 5,
    ("v2", "/personFields"): 10,
    ("v2", "/organizationFields"): 10,
    ("v2", "/dealFields"): 10,
    ("v2", "/activityFields"): 10,
    ("v1", "/notes"): 20,
    ("v1", "/noteFields"): 20,
    ("v1", "/activityFields"): 20,  # activity_fields without the OAuth scope admin
    ("v1", "/users"): 20,
    ("v1", "/activityTypes"): 20,
    ("v1", "/persons/{id}/changelog"): 20,
    ("v1", "/deals/{id}/changelog"): 20,
}


def token_cost(api_version: str, path: str) -> int:
    """The token cost of one call to ``path`` (a template such as ``/deals/{id}/changelog``)."""
    return TOKEN_COSTS[api_version, path]


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
