"""Field-level change history (API v1 ``/persons/{id}/changelog``, ``/deals/{id}/changelog``).

Seeded records get a short, consistent history derived from their current values (a stage move
at ``stage_change_time``, the status change at ``close_time``, ...). Every change made through
the write or control API is recorded as it happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipedrive_sandbox import timefmt

if TYPE_CHECKING:
    from pipedrive_sandbox.store import Change, Store

_USER_AGENTS = {
    "app": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)",
    "api": "pipedrive-sandbox-client",
    "control": "pipedrive-sandbox-control",
}
# Record fields whose changelog key differs (v1 names).
_FIELD_KEYS = {"emails": "email", "phones": "phone", "owner_id": "user_id"}
# Times that follow from another change (status, stage, archiving) are not rows of their own.
_UNLOGGED = {
    "update_time",
    "add_time",
    "won_time",
    "lost_time",
    "close_time",
    "stage_change_time",
    "archive_time",
    "local_won_date",
    "local_lost_date",
    "local_close_date",
    "marked_as_done_time",
}


def as_text(value: Any) -> str | None:
    """How a changelog row shows a value: strings, or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return as_text(value.get("value"))
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            primary = next((v for v in value if v.get("primary")), value[0])
            return as_text(primary.get("value"))
        return ",".join(str(v) for v in value) or None
    return str(value)


def _row(field: str, old: Any, new: Any, ts: int, actor: int, source: str) -> dict[str, Any]:
    return {
        "field_key": _FIELD_KEYS.get(field, field),
        "old_value": as_text(old),
        "new_value": as_text(new),
        "actor_user_id": actor,
        "time": timefmt.v1(ts),
        "change_source": "api" if source == "control" else source,
        "change_source_user_agent": _USER_AGENTS[source],
        "is_bulk_update_flag": False,
    }


class Changelog:
    """Seeded plus recorded changelog rows per (kind, id)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.recorded: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def record_changes(
        self, kind: str, record_id: int, changes: list[Change], ts: int, source: str
    ) -> None:
        """Append one row per changed field (oldest first in storage)."""
        rows = self.recorded.setdefault((kind, record_id), [])
        for field, old, new in changes:
            if field not in _UNLOGGED:
                rows.append(_row(field, old, new, ts, 1, source))

    def rows(self, kind: str, record_id: int) -> list[dict[str, Any]]:
        """All rows of a record, newest first."""
        seeded = self._seeded(kind, record_id)
        history = seeded + self.recorded.get((kind, record_id), [])
        return list(reversed(history))

    def _seeded(self, kind: str, record_id: int) -> list[dict[str, Any]]:
        if record_id > self.store.counts.get(kind, 0):
            return []  # created through the API: only recorded history
        columns = self.store.columns[kind]
        seeded_record = self.store.factory.build(kind, record_id)
        add = columns["add"].item(record_id - 1)
        rows: list[dict[str, Any]] = []
        owner = seeded_record["owner_id"]
        if kind == "deals":
            rows += self._deal_rows(seeded_record, owner)
        elif kind == "persons":
            update = timefmt.parse_rfc3339(seeded_record["update_time"])
            if update > add + 60 and not seeded_record["is_deleted"]:
                previous_owner = 1 if owner != 1 else 2
                rows.append(_row("owner_id", previous_owner, owner, (add + update) // 2, 1, "app"))
                value = next((v for v in seeded_record["custom_fields"].items() if v[1]), None)
                if value is not None:
                    rows.append(_row(value[0], None, value[1], update, owner, "app"))
        return rows

    def _deal_rows(self, deal: dict[str, Any], owner: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if deal["stage_change_time"]:
            stages = self.store.catalog.stages_of(deal["pipeline_id"])
            index = next(i for i, s in enumerate(stages) if s["id"] == deal["stage_id"])
            previous = stages[max(0, index - 1)]["id"] if index else None
            when = timefmt.parse_rfc3339(deal["stage_change_time"])
            if previous is not None:
                rows.append(_row("stage_id", previous, deal["stage_id"], when, owner, "app"))
        if deal["close_time"]:
            when = timefmt.parse_rfc3339(deal["close_time"])
            rows.append(_row("status", "open", deal["status"], when, owner, "app"))
        rows.sort(key=lambda r: r["time"])
        return rows
