"""The sandbox's clock: starts at the anchor (or now), ticks in real time unless frozen, and can
be moved forward through the control API so tests can age data (token expiry, 30-day windows).
"""

from __future__ import annotations

import threading
import time


def default_anchor() -> int:
    """Now, truncated to the hour: demo data looks recent and stays stable for an hour."""
    now = int(time.time())
    return now - now % 3600


class SandboxClock:
    """Epoch seconds as the sandbox sees them."""

    def __init__(self, start: int, *, frozen: bool = False) -> None:
        self._start = start
        self._frozen = frozen
        self._offset = 0
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> int:
        """Current sandbox time (whole seconds)."""
        elapsed = 0 if self._frozen else int(time.monotonic() - self._t0)
        return self._start + self._offset + elapsed

    def advance(self, seconds: int) -> int:
        """Move the clock forward (never backward); returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
