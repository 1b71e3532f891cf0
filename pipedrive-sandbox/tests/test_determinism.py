"""Same (seed, scale, anchor) gives the same data; data is recent relative to the anchor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipedrive_sandbox.columns import split_scale
from pipedrive_sandbox.testing import start_sandbox

KINDS = ("persons", "organizations", "deals", "activities", "notes")


def _snapshot(seed: int) -> dict[str, list[dict]]:
    with start_sandbox(seed=seed, scale=150, anchor="2026-03-01T00:00:00Z") as running:
        return {kind: running.control.dataset(kind) for kind in KINDS}


def test_same_seed_same_data_and_another_seed_other_data() -> None:
    first, second, other = _snapshot(7), _snapshot(7), _snapshot(8)
    assert first == second
    assert first["persons"] != other["persons"]
    assert [len(first[k]) for k in KINDS] == [len(other[k]) for k in KINDS]


def test_scale_is_split_in_realistic_proportions() -> None:
    assert split_scale(1_000_000) == {
        "persons": 300_000,
        "organizations": 80_000,
        "deals": 200_000,
        "activities": 300_000,
        "notes": 120_000,
    }
    for scale in (5, 20, 21, 333, 10_007):
        counts = split_scale(scale)
        assert sum(counts.values()) == scale
        assert min(counts.values()) >= 1


def test_default_anchor_makes_recent_data() -> None:
    with start_sandbox(seed=7, scale=400) as running:
        now = datetime.now(UTC)
        activities = running.control.dataset("activities")
        deals = running.control.dataset("deals")
    latest = max(
        datetime.fromisoformat(a["update_time"].replace("Z", "+00:00")) for a in activities
    )
    assert now - timedelta(days=14) < latest <= now
    won = [d for d in deals if d["won_time"]]
    assert any(
        datetime.fromisoformat(d["won_time"].replace("Z", "+00:00")) > now - timedelta(days=365)
        for d in won
    )
