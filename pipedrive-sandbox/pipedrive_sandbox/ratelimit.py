"""Pipedrive's two limits: a burst limit per rolling 2-second window per token, and a daily
token budget per company charged with each operation's ``x-token-cost`` (notes section 6).

Every API response carries ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and
``x-ratelimit-reset`` (documented) plus ``x-daily-ratelimit-token-limit`` and
``x-daily-ratelimit-token-remaining`` (observed in the wild). The budget resets at midnight UTC
of the sandbox clock, or through the control API.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from pipedrive_sandbox.clock import SandboxClock

UNLIMITED_REPORTED = 1_000_000  # what the headers report when a limit is switched off
DAY = 86_400


@dataclass
class Decision:
    """The limiter's answer for one request."""

    allowed: bool
    reason: str | None
    headers: dict[str, str]
    retry_after: int = 0


class RateLimiter:
    """Burst windows per token and one daily budget."""

    def __init__(
        self, clock: SandboxClock, *, burst_limit: int, window: float, daily_budget: int
    ) -> None:
        self.clock = clock
        self.burst_limit = burst_limit
        self.window = window
        self.daily_budget = daily_budget
        self.spent = 0
        self._day = clock.now() // DAY
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def set_budget(self, daily_budget: int | None = None, *, spent: int = 0) -> None:
        """Change the budget and what is already spent today (control API)."""
        with self._lock:
            if daily_budget is not None:
                self.daily_budget = daily_budget
            self.spent = spent

    def set_burst_limit(self, burst_limit: int) -> None:
        """Change the burst limit (control API); clears the windows."""
        with self._lock:
            self.burst_limit = burst_limit
            self._windows.clear()

    def remaining_budget(self) -> int:
        """Tokens left today."""
        with self._lock:
            self._roll_day()
            return self._remaining()

    def _remaining(self) -> int:
        if not self.daily_budget:
            return UNLIMITED_REPORTED
        return max(0, self.daily_budget - self.spent)

    def _roll_day(self) -> None:
        today = self.clock.now() // DAY
        if today != self._day:
            self._day, self.spent = today, 0

    def check(self, identity: str, cost: int) -> Decision:
        """Admit or refuse one request and charge its cost; headers for the response."""
        with self._lock:
            self._roll_day()
            now = time.monotonic()
            window = self._windows.setdefault(identity, deque())
            while window and now - window[0] >= self.window:
                window.popleft()
            limit = self.burst_limit or UNLIMITED_REPORTED
            reset = math.ceil(self.window - (now - window[0])) if window else math.ceil(self.window)
            if self.burst_limit and len(window) >= self.burst_limit:
                return Decision(False, "burst", self._headers(limit, 0, reset), max(1, reset))
            window.append(now)
            remaining = max(0, limit - len(window))
            if self.daily_budget and self.spent + cost > self.daily_budget:
                seconds_to_midnight = DAY - self.clock.now() % DAY
                headers = self._headers(limit, remaining, reset)
                return Decision(False, "daily", headers, seconds_to_midnight)
            self.spent += cost
            return Decision(True, None, self._headers(limit, remaining, reset))

    def headers_for(self, identity: str) -> dict[str, str]:
        """Current headers without admitting a request (for answers that skip the limiter)."""
        with self._lock:
            now = time.monotonic()
            window = self._windows.get(identity, deque())
            live = [t for t in window if now - t < self.window]
            limit = self.burst_limit or UNLIMITED_REPORTED
            reset = math.ceil(self.window - (now - live[0])) if live else math.ceil(self.window)
            return self._headers(limit, max(0, limit - len(live)), reset)

    def _headers(self, limit: int, remaining: int, reset: int) -> dict[str, str]:
        budget = self.daily_budget or UNLIMITED_REPORTED
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
            "x-daily-ratelimit-token-limit": str(budget),
            "x-daily-ratelimit-token-remaining": str(self._remaining()),
        }
