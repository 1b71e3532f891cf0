"""The sandbox's data: seeded columns, lazily built records, an overlay of changed records, and
sorted key indexes that make keyset pagination over a million rows a binary search.

Sort keys are composite ``uint64`` values ``(sort value << 24) | id``, so sorting by a field
with the id as tie-breaker is one ``np.sort``, and a cursor is one ``searchsorted``.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.catalog import ACTIVITY_TYPE_KEYS, build_catalog
from pipedrive_sandbox.changelog import Changelog
from pipedrive_sandbox.clock import SandboxClock
from pipedrive_sandbox.columns import KINDS, STATUSES, ColumnBuilder, Columns, split_scale
from pipedrive_sandbox.custom_fields import build_custom_fields
from pipedrive_sandbox.records import RecordFactory
from pipedrive_sandbox.templates import new_record
from pipedrive_sandbox.webhook_payloads import RecordEvent

ID_BITS = 24
ID_MASK = (1 << ID_BITS) - 1
MAX_IDS = ID_MASK
_CACHE_SIZE = 48
DAY = timefmt.SECONDS_PER_DAY

# The record field each sortable column comes from.
SORT_COLUMNS = {"update_time": "upd", "add_time": "add", "due_date": "due"}

Mask = Callable[[dict[str, np.ndarray]], np.ndarray]


class Store:
    """All records of one sandbox account."""

    def __init__(
        self, seed: int, scale: int, anchor: int, clock: SandboxClock, *, marketing_app: bool = True
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.anchor = anchor
        self.clock = clock
        self.marketing_app = marketing_app
        self.counts = split_scale(scale)
        self.catalog = build_catalog(seed, scale, anchor)
        self.custom_fields = build_custom_fields(seed, anchor)
        self.columns: dict[str, Columns] = ColumnBuilder(
            seed, self.counts, anchor, self.catalog
        ).build()
        self.factory = RecordFactory(
            seed,
            anchor,
            self.catalog,
            self.custom_fields,
            self.columns,
            marketing_app=marketing_app,
        )
        self.overlay: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.versions = dict.fromkeys(KINDS, 0)
        self.changelog = Changelog(self)
        self.lock = threading.RLock()
        # Told of every change, in order, under the lock (the sandbox's webhook delivery).
        self.observer: Callable[[RecordEvent], None] = lambda _event: None
        self._keys: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.groups: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}

    # --- reading ------------------------------------------------------------------------------

    def size(self, kind: str) -> int:
        """Number of records of a kind, deleted ones included."""
        return self.columns[kind].size

    def get(self, kind: str, record_id: int) -> dict[str, Any] | None:
        """A record (shared: callers must not mutate it), or ``None`` if the id never existed."""
        if not 1 <= record_id <= self.size(kind):
            return None
        changed = self.overlay[kind].get(record_id)
        return changed if changed is not None else self.factory.build(kind, record_id)

    def get_many(self, kind: str, ids: list[int]) -> list[dict[str, Any]]:
        """Existing records for a page of ids, in order (shared: callers must not mutate)."""
        overlay = self.overlay[kind]
        seeded = [i for i in ids if i not in overlay]
        built = dict(zip(seeded, self.factory.build_many(kind, seeded), strict=True))
        return [overlay[i] if i in overlay else built[i] for i in ids]

    def person_name(self, person_id: int) -> str:
        """Current name of a person."""
        changed = self.overlay["persons"].get(person_id)
        if changed is not None:
            return changed["name"]
        first, last, _, _ = self.factory.person_identity(person_id)
        return f"{first} {last}" if last else first

    def organization_name(self, org_id: int) -> str:
        """Current name of an organization."""
        changed = self.overlay["organizations"].get(org_id)
        return changed["name"] if changed is not None else self.factory.organization_name(org_id)

    def deal_title(self, deal_id: int) -> str:
        """Current title of a deal."""
        changed = self.overlay["deals"].get(deal_id)
        return changed["title"] if changed is not None else self.factory.deal_title(deal_id)

    def dataset(self, kind: str, *, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every record of a kind in id order (the source of truth tests compare against)."""
        records = (self.get(kind, i) for i in range(1, self.size(kind) + 1))
        out = [copy.deepcopy(r) for r in records if r is not None]
        if include_deleted:
            return out
        flag = "active_flag" if kind == "notes" else "is_deleted"
        return [r for r in out if (r[flag] if kind == "notes" else not r[flag])]

    # --- sorted keys ----------------------------------------------------------------------------

    def cached(self, kind: str, key: Hashable, build: Callable[[], np.ndarray]) -> np.ndarray:
        """An index array cached until the next change to ``kind`` (small LRU).

        ``kind`` may be ``"*"`` for indexes over every kind (invalidated by any change).
        """
        version = tuple(self.versions.values()) if kind == "*" else self.versions[kind]
        cache_key = (kind, key, version)
        with self.lock:
            found = self._keys.get(cache_key)
            if found is not None:
                self._keys.move_to_end(cache_key)
                return found
            built = build()
            self._keys[cache_key] = built
            if len(self._keys) > _CACHE_SIZE:
                self._keys.popitem(last=False)
            return built

    def sorted_keys(self, kind: str, sort_by: str, signature: Hashable, mask: Mask) -> np.ndarray:
        """Composite keys of the rows matching ``mask``, ascending; cached per signature."""

        def build() -> np.ndarray:
            arrays = self.columns[kind].arrays
            ids = np.arange(1, len(arrays["add"]) + 1, dtype=np.uint64)
            if sort_by == "id":
                composite = ids
            else:
                values = arrays[SORT_COLUMNS[sort_by]]
                if sort_by == "due_date":
                    values = values // DAY
                composite = (values.astype(np.uint64) << np.uint64(ID_BITS)) | ids
            return np.sort(composite[mask(arrays)])

        return self.cached(kind, ("keys", sort_by, signature), build)

    @staticmethod
    def page(
        keys: np.ndarray, start_key: int | None, *, descending: bool, limit: int
    ) -> tuple[list[int], int | None]:
        """One page of ids from sorted ``keys``, starting at ``start_key`` (inclusive).

        Returns the ids and the key of the first row of the next page (``None`` at the end).
        """
        if descending:
            end = len(keys) if start_key is None else int(np.searchsorted(keys, start_key, "right"))
            chunk = keys[max(0, end - limit - 1) : end][::-1]
        else:
            begin = 0 if start_key is None else int(np.searchsorted(keys, start_key, "left"))
            chunk = keys[begin : begin + limit + 1]
        values = chunk.tolist()
        next_key = values[limit] if len(values) > limit else None
        return [k & ID_MASK for k in values[:limit]], next_key

    # --- writing --------------------------------------------------------------------------------

    def create(self, kind: str, fields: dict[str, Any], *, source: str = "api") -> dict[str, Any]:
        """Create a record from (already validated) fields; returns it."""
        with self.lock:
            record_id = self.size(kind) + 1
            if record_id > MAX_IDS:
                raise OverflowError("the sandbox holds at most 16,777,215 records per kind")
            now = self.clock.now()
            record = new_record(self, kind, record_id, fields, now)
            self.columns[kind].append(column_values(kind, record))
            self.overlay[kind][record_id] = record
            self.versions[kind] += 1
            self.observer(RecordEvent("create", kind, record_id, None, record, source, now))
            return copy.deepcopy(record)

    def update(
        self,
        kind: str,
        record_id: int,
        fields: dict[str, Any],
        *,
        source: str = "api",
        is_bulk_edit: bool = False,
        merge: dict[str, int] | None = None,
    ) -> dict[str, Any] | None:
        """Apply field changes; bumps ``update_time`` if anything changed. ``None``: no such id.

        ``is_bulk_edit`` and ``merge`` (``merged_from_id``) mark the change's webhook event; a
        merge is a change of the survivor even when none of its stored fields moved.
        """
        with self.lock:
            current = self.get(kind, record_id)
            if current is None:
                return None
            record = copy.deepcopy(current)
            now = self.clock.now()
            changes = apply_fields(record, fields)
            if kind == "deals":
                changes += deal_side_effects(self, current, record, now)
            if changes or merge:
                record["update_time"] = format_time(kind, now)
                self._store(kind, record)
                self.changelog.record_changes(kind, record_id, changes, now, source)
                event = RecordEvent(
                    "change",
                    kind,
                    record_id,
                    current,
                    record,
                    source,
                    now,
                    is_bulk_edit,
                    merge or {},
                )
                self.observer(event)
            return copy.deepcopy(record)

    def delete(
        self,
        kind: str,
        record_id: int,
        *,
        source: str = "api",
        merge: dict[str, int] | None = None,
    ) -> dict[str, Any] | None:
        """Soft-delete a record like Pipedrive: flagged, ``update_time`` = deletion time.

        ``merge`` (``merged_to_id``) marks the webhook event of a record merged into another.
        """
        with self.lock:
            current = self.get(kind, record_id)
            if current is None:
                return None
            record = copy.deepcopy(current)
            now = self.clock.now()
            if kind == "notes":
                record["active_flag"] = False
            else:
                record["is_deleted"] = True
                if kind == "deals":
                    record["status"] = "deleted"
            record["update_time"] = format_time(kind, now)
            self._store(kind, record)
            field = "active_flag" if kind == "notes" else "is_deleted"
            old = "1" if kind == "notes" else "0"
            new = "0" if kind == "notes" else "1"
            self.changelog.record_changes(kind, record_id, [(field, old, new)], now, source)
            event = RecordEvent(
                "delete", kind, record_id, current, record, source, now, merge=merge or {}
            )
            self.observer(event)
            return copy.deepcopy(record)

    def _store(self, kind: str, record: dict[str, Any]) -> None:
        self.overlay[kind][record["id"]] = record
        self.columns[kind].set(record["id"], column_values(kind, record))
        self.versions[kind] += 1


def format_time(kind: str, ts: int) -> str:
    """A record time in its kind's API format (notes are v1 records)."""
    return timefmt.v1(ts) if kind == "notes" else timefmt.v2(ts)


def _ts(value: str | None) -> int:
    if not value:
        return 0
    return timefmt.parse_rfc3339(value) if "T" in value else timefmt.parse_v1(value)


def column_values(kind: str, record: dict[str, Any]) -> dict[str, int | bool]:
    """The column values a record implies (kept in step with the overlay after every write)."""
    values: dict[str, int | bool] = {
        "add": _ts(record["add_time"]),
        "upd": _ts(record["update_time"]),
    }
    if kind == "notes":
        values |= {
            "deleted": not record["active_flag"],
            "owner": record["user_id"] or 0,
            "deal": record["deal_id"] or 0,
            "person": record["person_id"] or 0,
            "org": record["org_id"] or 0,
            "pinned": int(record["pinned_to_deal_flag"])
            | int(record["pinned_to_organization_flag"]) << 1
            | int(record["pinned_to_person_flag"]) << 2,
        }
        return values
    values |= {"deleted": bool(record["is_deleted"]), "owner": record["owner_id"] or 0}
    if kind == "persons":
        values["org"] = record["org_id"] or 0
    elif kind == "deals":
        status = record["status"]
        values |= {
            "person": record["person_id"] or 0,
            "org": record["org_id"] or 0,
            "pipeline": record["pipeline_id"],
            "stage": record["stage_id"],
            "archived": bool(record["is_archived"]),
            "close": _ts(record["close_time"]),
            "archive": _ts(record["archive_time"]),
            "stage_change": _ts(record["stage_change_time"]),
        }
        if status in STATUSES:
            values["status"] = STATUSES.index(status)
    elif kind == "activities":
        due = (
            timefmt.date_to_ts(timefmt.parse_date(record["due_date"])) if record["due_date"] else 0
        )
        due_time = record["due_time"]
        if due_time:
            hours, minutes, *_ = (int(part) for part in due_time.split(":"))
            due += hours * 3600 + minutes * 60
        values |= {
            "type": ACTIVITY_TYPE_KEYS.index(record["type"])
            if record["type"] in ACTIVITY_TYPE_KEYS
            else 0,
            "deal": record["deal_id"] or 0,
            "person": record["person_id"] or 0,
            "org": record["org_id"] or 0,
            "due": due,
            "has_time": bool(due_time),
            "done": bool(record["done"]),
            "done_time": _ts(record["marked_as_done_time"]),
        }
    return values


Change = tuple[str, Any, Any]


def apply_fields(record: dict[str, Any], fields: dict[str, Any]) -> list[Change]:
    """Merge fields into a record (custom fields key by key); returns (field, old, new) changes."""
    changes: list[Change] = []
    for name, value in fields.items():
        if name == "custom_fields":
            for key, custom_value in value.items():
                old = record["custom_fields"].get(key)
                if old != custom_value:
                    record["custom_fields"][key] = custom_value
                    changes.append((key, old, custom_value))
            continue
        old = record.get(name)
        if old != value:
            record[name] = value
            changes.append((name, old, value))
    return changes


def deal_side_effects(
    store: Store, before: dict[str, Any], deal: dict[str, Any], now: int
) -> list[Change]:
    """What Pipedrive does when a deal changes stage or status (times, probability, reasons)."""
    changes: list[Change] = []
    stamp = timefmt.v2(now)

    def set_field(name: str, value: Any) -> None:
        if deal.get(name) != value:
            changes.append((name, deal.get(name), value))
            deal[name] = value

    if deal["pipeline_id"] != before["pipeline_id"] and deal["stage_id"] == before["stage_id"]:
        set_field("stage_id", store.catalog.stages_of(deal["pipeline_id"])[0]["id"])
    if deal["stage_id"] != before["stage_id"]:
        set_field("stage_change_time", stamp)
        stage = next(s for s in store.catalog.stages if s["id"] == deal["stage_id"])
        set_field("pipeline_id", stage["pipeline_id"])
    if deal["status"] != before["status"]:
        status = deal["status"]
        set_field("won_time", stamp if status == "won" else None)
        set_field("lost_time", stamp if status == "lost" else None)
        set_field("close_time", stamp if status in ("won", "lost") else None)
        set_field("local_won_date", timefmt.day(now) if status == "won" else None)
        set_field("local_lost_date", timefmt.day(now) if status == "lost" else None)
        set_field("local_close_date", timefmt.day(now) if status in ("won", "lost") else None)
        if status != "lost":
            set_field("lost_reason", None)
    if deal["is_archived"] and not before["is_archived"] and not deal.get("archive_time"):
        set_field("archive_time", stamp)
    if not deal["is_archived"] and before["is_archived"]:
        set_field("archive_time", None)
    return changes
