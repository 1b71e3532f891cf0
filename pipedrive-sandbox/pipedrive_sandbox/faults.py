"""Fault injection, deterministic for a given seed and request order.

Rules are keyed by kind; each has a trigger (``every`` N-th eligible request and/or a
``probability``), optional ``after`` (skip the first N eligible requests), ``count`` (stop after
N injections) and ``paths`` (path prefixes it applies to, e.g. ``["/api/v2/deals"]``).

kinds: ``rate_limit`` (429), ``server_error`` (``statuses``, default [500, 502, 503, 524]),
``slow`` (``seconds`` delay, then the normal answer), ``drop`` (close the connection without a
response), ``truncate`` (200 with its JSON body cut in half, valid HTTP), ``null_body``
(200 with the body ``null``), ``html_403`` (Cloudflare-style HTML 403 page).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

KINDS = ("rate_limit", "server_error", "slow", "drop", "truncate", "null_body", "html_403")
_KEYS = {"every", "probability", "after", "count", "paths", "statuses", "seconds"}


@dataclass
class FaultRule:
    """One fault kind's trigger and parameters."""

    kind: str
    every: int = 0
    probability: float = 0.0
    after: int = 0
    count: int | None = None
    paths: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [500, 502, 503, 524])
    seconds: float = 1.0
    seen: int = 0
    injected: int = 0

    def applies_to(self, path: str) -> bool:
        """Whether the rule covers a request path."""
        return not self.paths or any(path.startswith(prefix) for prefix in self.paths)


def parse_rules(spec: dict[str, Any]) -> dict[str, FaultRule]:
    """Validate a faults object (``{"server_error": {"every": 5}, ...}``); ``ValueError`` if bad."""
    if not isinstance(spec, dict):
        raise ValueError("faults must be a JSON object keyed by fault kind")
    rules = {}
    for kind, options in spec.items():
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind '{kind}'; known kinds: {', '.join(KINDS)}")
        if not isinstance(options, dict):
            raise ValueError(f"fault '{kind}' must be an object of options")
        unknown = set(options) - _KEYS
        if unknown:
            raise ValueError(f"fault '{kind}' has unknown options: {', '.join(sorted(unknown))}")
        rule = FaultRule(kind=kind, **options)
        if not rule.every and not rule.probability:
            raise ValueError(f"fault '{kind}' needs 'every' (> 0) or 'probability' (0..1)")
        if rule.every < 0 or not 0 <= rule.probability <= 1:
            raise ValueError(f"fault '{kind}': 'every' must be >= 0 and 'probability' in 0..1")
        server_class = HTTPStatus.INTERNAL_SERVER_ERROR // 100
        bad = [s for s in rule.statuses if int(s) // 100 != server_class]
        if kind == "server_error" and (not rule.statuses or bad):
            raise ValueError("fault 'server_error': 'statuses' must be a list of 5xx codes")
        rules[kind] = rule
    return rules


class FaultInjector:
    """Decides, request by request, which faults fire."""

    def __init__(self, spec: dict[str, Any], seed: int) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self.configure(spec)

    def configure(self, spec: dict[str, Any]) -> None:
        """Replace all rules (and restart their counters and random stream)."""
        rules = parse_rules(spec)
        with self._lock:
            self.rules = rules
            self._rng = random.Random(self.seed)  # noqa: S311 - reproducible test faults

    def describe(self) -> dict[str, Any]:
        """The active rules with their counters."""
        with self._lock:
            return {
                kind: {
                    "every": r.every,
                    "probability": r.probability,
                    "after": r.after,
                    "count": r.count,
                    "paths": r.paths,
                    "statuses": r.statuses,
                    "seconds": r.seconds,
                    "seen": r.seen,
                    "injected": r.injected,
                }
                for kind, r in self.rules.items()
            }

    def pick(self, path: str) -> list[FaultRule]:
        """The rules that fire for this request (in ``KINDS`` order)."""
        fired = []
        with self._lock:
            for kind in KINDS:
                rule = self.rules.get(kind)
                if rule is None or not rule.applies_to(path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.count is not None and rule.injected >= rule.count:
                    continue
                nth = rule.seen - rule.after
                hit = bool(rule.every) and nth % rule.every == 0
                if not hit and rule.probability:
                    hit = self._rng.random() < rule.probability
                if hit:
                    rule.injected += 1
                    fired.append(rule)
        return fired

    def server_status(self, rule: FaultRule) -> int:
        """Which 5xx this injection answers with (cycling through ``statuses``)."""
        return int(rule.statuses[(rule.injected - 1) % len(rule.statuses)])
