"""When the applying job should run after events arrive: a quiet period, capped by a maximum wait.

A burst of deliveries (a bulk edit in Pipedrive sends one event per object) should start one run
after it ends, not one run per event; a steady trickle must still start a run at least every
``max_wait`` seconds. Pure arithmetic on monotonic times, so the policy is tested without
clocks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Debounce:
    """Run ``quiet`` seconds after the last event, or ``max_wait`` after the first pending one."""

    quiet: float
    max_wait: float

    def due_at(self, first_pending: float, last_event: float) -> float:
        """The monotonic time at which the pending events should be applied."""
        return min(last_event + self.quiet, first_pending + self.max_wait)
