"""Compact per-kind columns: the indexable attributes of every record, built vectorised.

A record's id is its row number plus one. The columns hold what lists filter and sort on
(times, links, status flags); the rest of a record is rebuilt on demand by ``records.py``. Both
are pure functions of (seed, scale, anchor), so 1,000,000 records start in well under a second.
"""

# The literals in this module are the generated data's distributions (shares, rates).
# ruff: noqa: PLR2004

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.catalog import SEEDED_ACTIVITY_TYPES, Catalog
from pipedrive_sandbox.prng import uniform

DAY = timefmt.SECONDS_PER_DAY
HISTORY_SECONDS = 3 * 365 * DAY
KINDS = ("persons", "organizations", "deals", "activities", "notes")
SHARES = {"persons": 0.30, "organizations": 0.08, "deals": 0.20, "activities": 0.30, "notes": 0.12}
STATUSES = ("open", "won", "lost")
OPEN, WON, LOST = 0, 1, 2
MIN_SCALE = len(KINDS)

# Columns every kind has, and the extra ones per kind (name -> dtype).
_COMMON = {"add": np.int64, "upd": np.int64, "deleted": np.bool_, "owner": np.int32}
_EXTRA: dict[str, dict[str, type]] = {
    "persons": {"org": np.int32},
    "organizations": {},
    "deals": {
        "person": np.int32,
        "org": np.int32,
        "pipeline": np.int32,
        "stage": np.int32,
        "status": np.int8,
        "archived": np.bool_,
        "close": np.int64,
        "archive": np.int64,
        "stage_change": np.int64,
    },
    "activities": {
        "type": np.int8,
        "deal": np.int32,
        "person": np.int32,
        "org": np.int32,
        "due": np.int64,
        "has_time": np.bool_,
        "done": np.bool_,
        "done_time": np.int64,
    },
    "notes": {"deal": np.int32, "person": np.int32, "org": np.int32, "pinned": np.int8},
}


def split_scale(scale: int) -> dict[str, int]:
    """Distribute ``scale`` records over the kinds (largest remainder, at least one each)."""
    if scale < MIN_SCALE:
        raise ValueError(f"scale must be at least {MIN_SCALE}, got {scale}")
    raw = {kind: scale * share for kind, share in SHARES.items()}
    counts = {kind: max(1, int(value)) for kind, value in raw.items()}
    by_remainder = sorted(KINDS, key=lambda k: raw[k] - int(raw[k]), reverse=True)
    index = 0
    while sum(counts.values()) < scale:
        counts[by_remainder[index % len(KINDS)]] += 1
        index += 1
    while sum(counts.values()) > scale:
        largest = max(KINDS, key=lambda k: counts[k])
        counts[largest] -= 1
    return counts


@dataclass
class Columns:
    """The column arrays of one kind; row ``i`` is the record with id ``i + 1``."""

    kind: str
    arrays: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        """Number of records (including deleted ones)."""
        return len(self.arrays["add"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def append(self, values: dict[str, int | bool]) -> int:
        """Add one row (a record created through the API); returns its id."""
        for name, array in self.arrays.items():
            self.arrays[name] = np.append(array, np.array([values.get(name, 0)], array.dtype))
        return self.size

    def set(self, record_id: int, values: dict[str, int | bool]) -> None:
        """Overwrite some column values of one row."""
        for name, value in values.items():
            self.arrays[name][record_id - 1] = value


def _empty(kind: str, n: int) -> dict[str, np.ndarray]:
    return {name: np.zeros(n, dtype) for name, dtype in (_COMMON | _EXTRA[kind]).items()}


class ColumnBuilder:
    """Builds the seeded columns of all kinds for one (seed, counts, anchor, catalog)."""

    def __init__(self, seed: int, counts: dict[str, int], anchor: int, catalog: Catalog) -> None:
        self.seed = seed
        self.counts = counts
        self.anchor = anchor
        self.catalog = catalog

    def u(self, kind: str, salt: str) -> np.ndarray:
        """Per-record uniforms for one kind and purpose."""
        return uniform(self.seed, kind, salt, np.arange(1, self.counts[kind] + 1))

    def build(self) -> dict[str, Columns]:
        """All kinds; persons before deals before activities and notes (they link back)."""
        out: dict[str, Columns] = {}
        for kind in KINDS:
            arrays = _empty(kind, self.counts[kind])
            self._timeline(kind, arrays)
            out[kind] = Columns(kind, arrays)
        self._persons(out)
        self._deals(out)
        self._activities(out)
        self._notes(out)
        for kind in KINDS:
            self._deletions(kind, out[kind].arrays)
        return out

    def _fraction(self, kind: str) -> np.ndarray:
        n = self.counts[kind]
        return (np.arange(1, n + 1) - 0.5) / n

    def _timeline(self, kind: str, arrays: dict[str, np.ndarray]) -> None:
        # Ids grow with creation time, and an account grows: records get denser over time.
        created = self.anchor - 600 - (HISTORY_SECONDS * (1 - self._fraction(kind) ** 0.6))
        add = created.astype(np.int64)
        age = (self.anchor - 60 - add).clip(min=0)
        u, v = self.u(kind, "update"), self.u(kind, "update-when")
        delta = np.where(u < 0.35, 0, np.where(u < 0.8, age * v**4, age * v)).astype(np.int64)
        arrays["add"][:] = add
        arrays["upd"][:] = add + delta
        users = np.array(self.catalog.user_ids[:4] or [1], np.int32)
        arrays["owner"][:] = users[(self.u(kind, "owner") ** 1.5 * len(users)).astype(np.int64)]

    def _linked(self, kind: str, target: str, salt: str) -> np.ndarray:
        """Ids of ``target`` records that existed when each ``kind`` record was created."""
        limit = np.maximum(1, (self._fraction(kind) * self.counts[target]).astype(np.int64))
        return (1 + (self.u(kind, salt) * limit).astype(np.int64)).clip(max=self.counts[target])

    def _persons(self, cols: dict[str, Columns]) -> None:
        has_org = self.u("persons", "has-org") < 0.75
        cols["persons"]["org"][:] = np.where(
            has_org, self._linked("persons", "organizations", "org"), 0
        )

    def _deals(self, cols: dict[str, Columns]) -> None:
        d = cols["deals"].arrays
        n = self.counts["deals"]
        person = np.where(
            self.u("deals", "has-person") < 0.85, self._linked("deals", "persons", "p"), 0
        )
        person_org = np.where(person > 0, cols["persons"]["org"][np.maximum(person, 1) - 1], 0)
        fallback_org = np.where(
            self.u("deals", "has-org") < 0.5, self._linked("deals", "organizations", "o"), 0
        )
        d["person"][:] = person
        d["org"][:] = np.where(person_org > 0, person_org, fallback_org)
        pipelines = [p["id"] for p in self.catalog.pipelines]
        weights = np.cumsum([0.7, 0.2, 0.1][: len(pipelines)]) / sum(
            [0.7, 0.2, 0.1][: len(pipelines)]
        )
        pipe_index = np.searchsorted(weights, self.u("deals", "pipeline"), side="right").clip(
            max=len(pipelines) - 1
        )
        d["pipeline"][:] = np.array(pipelines, np.int32)[pipe_index]
        age_days = (self.anchor - d["add"]) / DAY
        closed = self.u("deals", "closed") < np.clip(age_days / 240, 0, 0.8)
        won = self.u("deals", "won") < 0.45
        status = np.where(closed, np.where(won, WON, LOST), OPEN).astype(np.int8)
        close = d["add"] + ((5 + 120 * self.u("deals", "close-after")) * DAY).astype(np.int64)
        close = np.minimum(close, self.anchor - 300)
        close = np.where(closed, np.maximum(close, d["add"] + 60), 0)
        # stage: won deals sit in the last stage, open deals lean to the early stages
        stage_first = np.zeros(n, np.int64)
        stage_count = np.zeros(n, np.int64)
        for pid in pipelines:
            stages = self.catalog.stages_of(pid)
            mask = d["pipeline"] == pid
            stage_first[mask] = stages[0]["id"]
            stage_count[mask] = len(stages)
        pick = (self.u("deals", "stage") ** 1.7 * stage_count).astype(np.int64)
        offset = np.where(status == WON, stage_count - 1, pick)
        d["stage"][:] = stage_first + offset
        d["status"][:] = status
        d["close"][:] = close
        upd = np.maximum(d["upd"], close)
        never_moved = (offset == 0) & (self.u("deals", "moved") < 0.6)
        moved_until = np.where(closed, close, upd)
        change = d["add"] + ((moved_until - d["add"]) * self.u("deals", "stage-change")).astype(
            np.int64
        )
        d["stage_change"][:] = np.where(never_moved, 0, change)
        archived = closed & (age_days > 180) & (self.u("deals", "archived") < 0.1)
        archive = np.minimum(
            close + (30 * DAY * (1 + self.u("deals", "archive-after"))).astype(np.int64),
            self.anchor - 120,
        )
        d["archived"][:] = archived
        d["archive"][:] = np.where(archived, np.maximum(archive, close), 0)
        d["upd"][:] = np.maximum(upd, d["archive"])
        self._forced_deal_variants(d)

    def _forced_deal_variants(self, d: dict[str, np.ndarray]) -> None:
        """Make sure every account of 8+ deals has an archived and a won deal."""
        n = len(d["add"])
        if n < 8:
            return
        i = round(n * 0.35) - 1
        close = min(int(d["add"][i]) + 10 * DAY, self.anchor - 2 * DAY)
        d["status"][i] = WON
        d["close"][i] = close
        d["archived"][i] = True
        d["archive"][i] = min(close + DAY, self.anchor - DAY)
        d["upd"][i] = d["archive"][i]
        d["stage_change"][i] = close
        stages = self.catalog.stages_of(int(d["pipeline"][i]))
        d["stage"][i] = stages[-1]["id"]

    def _activities(self, cols: dict[str, Columns]) -> None:
        a = cols["activities"].arrays
        deals = cols["deals"].arrays
        deal = np.where(
            self.u("activities", "has-deal") < 0.55, self._linked("activities", "deals", "d"), 0
        )
        deal_person = np.where(deal > 0, deals["person"][np.maximum(deal, 1) - 1], 0)
        own_person = np.where(
            self.u("activities", "has-person") < 0.7, self._linked("activities", "persons", "p"), 0
        )
        person = np.where(deal > 0, deal_person, own_person)
        person_org = np.where(person > 0, cols["persons"]["org"][np.maximum(person, 1) - 1], 0)
        deal_org = np.where(deal > 0, deals["org"][np.maximum(deal, 1) - 1], 0)
        a["deal"][:] = deal
        a["person"][:] = person
        a["org"][:] = np.where(deal > 0, deal_org, person_org)
        weights = np.cumsum([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
        a["type"][:] = np.searchsorted(
            weights, self.u("activities", "type") * weights[-1], side="right"
        ).clip(max=SEEDED_ACTIVITY_TYPES - 1)
        offset_days = np.floor(self.u("activities", "due") ** 2 * 40 - 3).astype(np.int64)
        due_day = (a["add"] // DAY + offset_days) * DAY
        has_time = self.u("activities", "has-time") < 0.6
        tod = 8 * 3600 + (self.u("activities", "tod") * 40).astype(np.int64) * 900
        a["due"][:] = due_day + np.where(has_time, tod, 0)
        a["has_time"][:] = has_time
        past = a["due"] < self.anchor
        done = np.where(
            past, self.u("activities", "done") < 0.85, self.u("activities", "done") < 0.03
        )
        done_time = np.maximum(a["due"], a["add"]) + (
            self.u("activities", "done-after") * 2 * DAY
        ).astype(np.int64)
        done_time = np.minimum(done_time, self.anchor - 90)
        done_time = np.maximum(done_time, a["add"])
        a["done"][:] = done
        a["done_time"][:] = np.where(done, done_time, 0)
        a["upd"][:] = np.maximum(a["upd"], a["done_time"])

    def _notes(self, cols: dict[str, Columns]) -> None:
        notes = cols["notes"].arrays
        deals = cols["deals"].arrays
        target = self.u("notes", "target")
        deal = np.where(target < 0.5, self._linked("notes", "deals", "d"), 0)
        person = np.where(
            deal > 0,
            deals["person"][np.maximum(deal, 1) - 1],
            np.where(target < 0.9, self._linked("notes", "persons", "p"), 0),
        )
        org_of_person = np.where(person > 0, cols["persons"]["org"][np.maximum(person, 1) - 1], 0)
        org = np.where(deal > 0, deals["org"][np.maximum(deal, 1) - 1], org_of_person)
        org = np.where(
            (deal == 0) & (person == 0), self._linked("notes", "organizations", "o"), org
        )
        notes["deal"][:] = deal
        notes["person"][:] = person
        notes["org"][:] = org
        pinned = self.u("notes", "pinned") < 0.1
        notes["pinned"][:] = np.where(pinned & (deal > 0), 1, np.where(pinned & (person > 0), 4, 0))

    def _deletions(self, kind: str, arrays: dict[str, np.ndarray]) -> None:
        """Soft-delete a few records; a deletion is the record's last update."""
        rate = {"deals": 0.03, "organizations": 0.015}.get(kind, 0.02)
        deleted = self.u(kind, "deleted") < rate
        live = ~arrays.get("archived", np.zeros(len(deleted), np.bool_))
        deleted &= live
        age = (self.anchor - 60 - arrays["upd"]).clip(min=1)
        when = arrays["upd"] + (age * (1 - self.u(kind, "deleted-when") ** 3)).astype(np.int64)
        n = len(deleted)
        if n >= 8:
            # one deletion three days ago and (for deals) one 60 days ago, whatever the seed
            recent, old = round(n * 0.55) - 1, round(n * 0.25) - 1
            deleted[[recent, old]] = True
            when[recent] = max(int(arrays["upd"][recent]), self.anchor - 3 * DAY)
            when[old] = max(int(arrays["upd"][old]), self.anchor - 60 * DAY)
        arrays["deleted"][:] = deleted
        arrays["upd"][:] = np.where(deleted, when, arrays["upd"])
