"""Pipedrive leads into ``leads``.

A lead's Pipedrive id is a UUID, where every other object's is an integer and
``pipedrive_records`` (the snapshot each object sink compares with) keys objects by an
integer: a lead is keyed there by ``lead_key``, 60 bits of the SHA-256 of its UUID (two of a
million leads share one with a chance under one in 10^6), and its record keeps the UUID as
``id``. Not the UUID's own first bits: Pipedrive's lead ids are version-1 UUIDs, whose first 60
bits are only the creation time, so two leads made in the same tick on two servers would share
them. The ``leads`` row carries both: ``pipedrive_lead_id`` (the UUID) and
``pipedrive_lead_key`` (the key, which associations and merges join on, as they join other
kinds on their integer Pipedrive ids).

``pipedrive.lead.created`` comes from here; ``pipedrive.lead.converted`` from the deals sink,
when a deal names the lead it was made from (``source_lead_id``): ``lead_parties`` gives it
the lead's person and organization from the lead's snapshot.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activities import derived_from_lead
from target_cdp.checks import REFERENCE_FIELDS, number_problem, type_problem
from target_cdp.records import cdp_id, parse_time
from target_cdp.sinks.objects import Outcome, PipedriveObjectSink, stored_deleted_at
from target_cdp.snapshots import Change
from target_cdp.storable import shown

if TYPE_CHECKING:
    from target_cdp.run import Run

LEAD_KEY_BITS = 60
_EXTRA_TYPES = {"organization_id": "integer", "value.amount": "number", "value.currency": "string"}
COLUMN_FIELDS = frozenset(
    {
        "id",
        "person_id",
        "organization_id",
        "title",
        "value",
        "owner_id",
        "source_name",
        "is_archived",
        "add_time",
        "update_time",
        "is_deleted",
    }
)


def lead_uuid(value: object) -> str | None:
    """The lead id as a canonical UUID string, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def lead_key(lead_id: str) -> int:
    """A lead's key in ``pipedrive_records``: 60 bits of the SHA-256 of its UUID's bytes."""
    digest = hashlib.sha256(uuid.UUID(lead_id).bytes).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - LEAD_KEY_BITS)


def lead_parties(
    conn: sa.Connection, run: Run, lead_ids: Collection[str]
) -> dict[str, tuple[int | None, int | None]]:
    """(Pipedrive person id, organization id) of each of these leads the CDP has seen."""
    r = run.tables.pipedrive_records
    keys = {lead_key(i): i for i in lead_ids if lead_uuid(i)}
    rows = conn.execute(
        sa.select(r.c.pipedrive_id, r.c.record).where(
            r.c.stream == "leads", bulk.among(r.c.pipedrive_id, keys)
        )
    )
    return {
        keys[key]: (record.get("person_id"), record.get("organization_id")) for key, record in rows
    }


class LeadsSink(PipedriveObjectSink):
    """The ``leads`` stream."""

    column_types = {"title": "string", "source_name": "string", "is_archived": "boolean"}  # noqa: RUF012

    @staticmethod
    def snapshot_key(record: dict) -> int:
        """The lead's integer key in ``pipedrive_records`` (see the module docstring)."""
        return lead_key(record["id"])

    def check(self, record: dict) -> str | None:
        """A UUID id; then the checks of every object (times, typed columns, references,
        ``custom_fields``), plus ``organization_id`` and ``value`` (``{amount, currency}``)."""
        lead_id = lead_uuid(record.get("id"))
        if lead_id is None:
            return f"id must be a lead UUID, got {shown(record.get('id'))}"
        value = record.get("value")
        if value is not None and not isinstance(value, dict):
            return f"value must be an object {{amount, currency}} or null, got {shown(value)}"
        extra = {
            "organization_id": record.get("organization_id"),
            "value.amount": (value or {}).get("amount"),
            "value.currency": (value or {}).get("currency"),
        }
        checked = {**record, "id": 0}  # the object checks want an integer id
        reason = (
            super().check(checked)
            or type_problem(extra, _EXTRA_TYPES)
            or number_problem(extra, "value.amount")
        )
        if reason is None:
            # The references as the check left them (API v1's {"value": id} unwrapped).
            record.update({name: checked[name] for name in REFERENCE_FIELDS if name in record})
            record["id"] = lead_id
        return reason

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Upsert one row per lead, with its person and organization resolved when known."""
        out = Outcome()
        links = self.run.links
        known = links.cdp_ids(conn, "lead", [c.pipedrive_id for c in changes])
        people = links.cdp_ids(conn, "person", {c.new.get("person_id") for c in changes})
        orgs = links.cdp_ids(conn, "organization", {c.new.get("organization_id") for c in changes})
        rows = []
        for change in changes:
            key, new = change.pipedrive_id, change.new
            value = new.get("value") or {}
            row = {
                "lead_id": known.get(key) or cdp_id("lead", new["id"]),
                "pipedrive_lead_id": new["id"],
                "pipedrive_lead_key": key,
                "person_id": people.get(new.get("person_id")),
                "organization_id": orgs.get(new.get("organization_id")),
                "pipedrive_person_id": new.get("person_id"),
                "pipedrive_org_id": new.get("organization_id"),
                "title": new.get("title"),
                "value": (change.raw.get("value") or {}).get("amount"),
                "currency": value.get("currency"),
                "owner_id": new.get("owner_id"),
                "source_name": new.get("source_name"),
                "is_archived": new.get("is_archived"),
                "add_time": parse_time(new.get("add_time")),
                "update_time": parse_time(new.get("update_time")),
                "is_deleted": change.deleted,
                "deleted_at": None,
                "attributes": {k: v for k, v in new.items() if k not in COLUMN_FIELDS},
            }
            if change.deleted:
                row["deleted_at"] = change.deleted_at or stored_deleted_at(
                    conn, self.run.tables.leads, "lead_id", row["lead_id"]
                )
            rows.append(row)
            out.counts["updated" if key in known else "inserted"] += 1
            out.counts["deleted"] += change.deleted
            out.stored.add(key)
            out.activities += derived_from_lead(change.old, new, deleted=change.deleted)
            out.to_ids[key] = row["lead_id"]
        bulk.upsert(conn, self.run.tables.leads, rows)
        return out
