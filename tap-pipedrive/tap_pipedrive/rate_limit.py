"""Pacing requests by Pipedrive's rate-limit headers.

Pipedrive allows a burst of requests per rolling 2-second window per token and reports the state
of that window on every response (``x-ratelimit-limit``, ``x-ratelimit-remaining``,
``x-ratelimit-reset`` in seconds). The pacer sleeps until the window resets once ``remaining``
reaches 0, so a well-behaved sync meets few 429s. It also keeps its own window: once the limit
is known, a request waits until fewer than ``limit - 1`` requests fall in the last window (plus a
small margin), each counted from when its answer came when the caller says so (Pipedrive counted
it before that, so a request held up on its way cannot make a later one early). Requests sent
from several threads (target-pipedrive's pool) thus take distinct places in the window instead
of finding out by 429s, and no request fills the window, whose ``remaining: 0`` would hold every
request for the whole seconds of ``x-ratelimit-reset``. The daily token budget is reported (where
Pipedrive sends it) in ``x-daily-ratelimit-token-remaining``; 0 there means no call will succeed
until the budget resets, so the tap stops instead of waiting. A 429 that asks for a wait longer
than ``MAX_WAIT_SECONDS`` (hours, until the daily budget resets) means the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from tap_pipedrive.errors import BudgetExhausted, RateLimited

DEFAULT_RESET_SECONDS = 2.0
MAX_WAIT_SECONDS = 60.0
#: Pipedrive's burst window (rolling) and how much later than it left a request may be counted.
WINDOW_SECONDS = 2.0
WINDOW_MARGIN_SECONDS = 0.05


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def retry_after_seconds(headers: Mapping[str, str]) -> float:
    """How long a 429 asks to wait: ``Retry-After``, else ``x-ratelimit-reset``, else 2 s.

    Not capped: a wait beyond ``MAX_WAIT_SECONDS`` is the caller's sign to stop, not to sleep.
    """
    for name in ("retry-after", "x-ratelimit-reset"):
        wait = _number(headers, name)
        if wait is not None and wait >= 0:
            return wait
    return DEFAULT_RESET_SECONDS


def daily_tokens_remaining(headers: Mapping[str, str]) -> float | None:
    """The daily token budget left, if Pipedrive reported it on this response."""
    return _number(headers, "x-daily-ratelimit-token-remaining")


def refusal(headers: Mapping[str, str], cost: int, where: str) -> BudgetExhausted | RateLimited:
    """What a 429 for ``where`` (a call of ``cost`` tokens) means: wait for the burst window
    (:class:`RateLimited`), or stop, the daily budget being spent (:class:`BudgetExhausted`).

    Shared by the tap and target-pipedrive: one reading of Pipedrive's limits.
    """
    daily = daily_tokens_remaining(headers)
    if daily is not None and daily < cost:
        return BudgetExhausted(
            f"Pipedrive's daily token budget is spent (429 with {daily:.0f} tokens left, "
            f"the call costs {cost})"
        )
    wait = retry_after_seconds(headers)
    if wait > MAX_WAIT_SECONDS:
        return BudgetExhausted(
            f"Pipedrive answered 429 for {where} and asked to wait {wait:.0f} s, longer than "
            "a rate-limit window: the daily token budget is probably spent"
        )
    return RateLimited(f"429 Too Many Requests for {where}", wait)


class RequestPacer:
    """Shared by all streams of a run (burst limits are per token, not per endpoint)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create a pacer; ``clock`` and ``sleep`` are injectable for tests."""
        self._clock = clock
        self._sleep = sleep
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self._capacity: int | None = None  # requests per window, one below the limit
        #: A place per recent request: when it was let go, or when its answer came.
        self._places: list[list[float]] = []
        self.slept_seconds = 0.0

    def wait_for_slot(self) -> list[float]:
        """Sleep until the burst window has room for another request; from several threads
        at once, each takes its own place. The place, for ``observe`` once answered."""
        with self._lock:
            now = self._clock()
            span = WINDOW_SECONDS + WINDOW_MARGIN_SECONDS
            self._places = [place for place in self._places if place[0] > now - span]
            times = sorted(place[0] for place in self._places)
            start = max(now, self._blocked_until, times[-1] if times else now)
            if self._capacity is not None and len(times) >= self._capacity:
                start = max(start, times[-self._capacity] + span)
            place = [start]
            self._places.append(place)
            delay = start - now
            if delay > 0:
                self.slept_seconds += delay
        if delay > 0:
            self._sleep(delay)
        return place

    def observe(self, headers: Mapping[str, str], place: list[float] | None = None) -> None:
        """Learn the window's size and state from a response (to the request given ``place``:
        it counts from now)."""
        if place is not None:
            with self._lock:
                place[0] = max(place[0], self._clock())
        limit = _number(headers, "x-ratelimit-limit")
        if limit is not None and limit >= 2:  # noqa: PLR2004 - one below it must leave room
            with self._lock:
                self._capacity = int(limit) - 1
        remaining = _number(headers, "x-ratelimit-remaining")
        if remaining is None or remaining > 0:
            return
        reset = _number(headers, "x-ratelimit-reset")
        wait = DEFAULT_RESET_SECONDS if reset is None else min(max(reset, 0.0), MAX_WAIT_SECONDS)
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + wait)

    def block_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (after a 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
