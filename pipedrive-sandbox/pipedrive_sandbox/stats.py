"""Counters of API traffic: requests, tokens, per operation and per status."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Thread-safe request and token counters (the control API is never counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests = 0
            self.tokens = 0
            self.operation_requests: Counter[str] = Counter()
            self.operation_tokens: Counter[str] = Counter()
            self.statuses: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.rate_limited: Counter[str] = Counter()

    def record(self, operation: str, status: int, tokens: int) -> None:
        """Count one answered API request."""
        with self._lock:
            self.requests += 1
            self.tokens += tokens
            self.operation_requests[operation] += 1
            self.operation_tokens[operation] += tokens
            self.statuses[str(status)] += 1

    def fault(self, kind: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self.faults[kind] += 1

    def limited(self, reason: str) -> None:
        """Count one request refused by the rate limiter (``burst`` or ``daily``)."""
        with self._lock:
            self.rate_limited[reason] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        with self._lock:
            return {
                "requests": self.requests,
                "tokens_spent": self.tokens,
                "by_operation": {
                    op: {"requests": n, "tokens": self.operation_tokens[op]}
                    for op, n in sorted(self.operation_requests.items())
                },
                "by_status": dict(sorted(self.statuses.items())),
                "faults_injected": dict(self.faults),
                "rate_limited": dict(self.rate_limited),
            }
