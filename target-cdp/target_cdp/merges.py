"""Pipedrive merges of persons and organizations: the absorbed CDP row folds into the survivor's.

tap-pipedrive sends a merge as the absorbed object's last record with ``is_deleted: true`` and
``merged_to_id`` (the survivor's Pipedrive id). The survivor's own record may come before or
after it, in any batch or run, so the rule only uses what the CDP holds when the merge arrives:

- both CDP rows exist and differ: the absorbed row gets ``merged_into`` (the survivor's CDP id)
  and stays, so references from other sources can be followed; the survivor keeps its values
  and fills only its empty fields from the absorbed person (none under ``ignore``; only
  ``writable_fields``), and each permission becomes the more restrictive of the two (false,
  then unknown, then true): a merge never raises consent;
- only the absorbed row exists: it becomes the survivor's (its Pipedrive link moves), nothing
  is lost; when the survivor's record arrives it merges into that row like any update;
- only the survivor's row, neither, or both already one row: only the links change.

Either way every reference to the absorbed Pipedrive id or CDP row moves to the survivor:
``pipedrive_records`` references (so associations are rebuilt under the survivor), deals,
activities (held ones too), people of a merged organization, and ``activity_summary``.
Replaying a merge finds the references moved and the row merged: it changes nothing.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.merge import COLUMNS, Field, merge_person
from target_cdp.registry import MERGED_TO, TABLED_KINDS, referrers
from target_cdp.settings import Settings
from target_cdp.tables import CDPTables

#: Permission values from the most to the least restrictive.
_RESTRICTIVENESS = (False, None, True)


def survivor_of(record: dict) -> int | None:
    """The survivor's Pipedrive id when the record says its object was merged away."""
    target = record.get(MERGED_TO)
    if record.get("is_deleted") is not True or not isinstance(target, int):
        return None
    if isinstance(target, bool) or target == record.get("id"):
        return None
    return target


def restrictive(*permissions: bool | None) -> bool | None:
    """The most restrictive of these permissions (false, then unknown, then true)."""
    return min(permissions, key=_RESTRICTIVENESS.index)


def merged_fields(survivor: dict, absorbed: dict, settings: Settings) -> dict:
    """The survivor's person fields after taking in the absorbed person's.

    The survivor's values stay; its empty fields are filled from the absorbed person, within
    ``writable_fields`` (``ignore`` fills nothing).
    """
    proposed: dict[Field, object] = {
        name: absorbed.get(name) for name in COLUMNS if absorbed.get(name) is not None
    }
    attributes = absorbed.get("attributes") or {}
    for key, value in attributes.items():
        if key == "custom_fields" and isinstance(value, dict):
            proposed.update({("custom_fields", k): v for k, v in value.items()})
        elif value is not None:
            proposed[(key,)] = value
    current = {name: survivor.get(name) for name in COLUMNS}
    current["attributes"] = dict(survivor.get("attributes") or {})
    fill_only = dataclasses.replace(
        settings,
        merge_strategy="ignore" if settings.merge_strategy == "ignore" else "append_only",
    )
    return merge_person(current, proposed, fill_only)


class Merges:
    """Moves every reference from an absorbed record to its survivor, for one CDP schema."""

    def __init__(self, tables: CDPTables) -> None:
        self.tables = tables

    def move_references(
        self,
        conn: sa.Connection,
        kind: str,
        absorbed: tuple[int, str | None],
        survivor: tuple[int, str | None],
    ) -> None:
        """Point what refers to the absorbed (Pipedrive id, CDP id) at the survivor's."""
        (absorbed_pid, absorbed_id), (survivor_pid, survivor_id) = absorbed, survivor
        spec = TABLED_KINDS[kind]
        ref_column = str(spec.ref_column)
        r = self.tables.pipedrive_records
        conn.execute(
            sa.update(r).where(r.c[ref_column] == absorbed_pid).values({ref_column: survivor_pid})
        )
        pd_column = str(spec.pipedrive_column)
        id_column = str(spec.id_column)
        for name in referrers(kind):
            table = getattr(self.tables, name)
            conn.execute(
                sa.update(table)
                .where(table.c[pd_column] == absorbed_pid)
                .values({pd_column: survivor_pid})
            )
            if absorbed_id is not None and survivor_id is not None and absorbed_id != survivor_id:
                conn.execute(
                    sa.update(table)
                    .where(table.c[id_column] == absorbed_id)
                    .values({id_column: survivor_id})
                )
        if absorbed_id is None or survivor_id is None or absorbed_id == survivor_id:
            return
        own = getattr(self.tables, str(spec.table))
        conn.execute(
            sa.update(own).where(own.c.merged_into == absorbed_id).values(merged_into=survivor_id)
        )
        a = self.tables.associations
        conn.execute(sa.delete(a).where(a.c.from_kind == kind, a.c.from_id == absorbed_id))
        if kind == "person":
            self._move_summary(conn, absorbed_id, survivor_id)

    def _move_summary(self, conn: sa.Connection, absorbed_id: str, survivor_id: str) -> None:
        """Add the absorbed person's ``activity_summary`` rows to the survivor's."""
        s = self.tables.activity_summary
        rows = [
            dict(row) | {"person_id": survivor_id}
            for row in conn.execute(sa.select(s).where(s.c.person_id == absorbed_id)).mappings()
        ]
        if not rows:
            return
        bulk.upsert(
            conn,
            s,
            rows,
            update=lambda stored, new: {
                "first_at": sa.func.least(stored.first_at, new.first_at),
                "last_at": sa.func.greatest(stored.last_at, new.last_at),
                "count": stored["count"] + new["count"],
            },
        )
        conn.execute(sa.delete(s).where(s.c.person_id == absorbed_id))
