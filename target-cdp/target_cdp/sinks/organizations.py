"""Pipedrive organizations into ``organizations``."""

from __future__ import annotations

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activities import organization_activities
from target_cdp.records import cdp_id, parse_time
from target_cdp.sinks.base import Change, Outcome, PipedriveObjectSink

COLUMN_FIELDS = frozenset({"id", "name", "add_time", "update_time", "is_deleted"})


class OrganizationsSink(PipedriveObjectSink):
    """The ``organizations`` stream (Pipedrive is the only writer of its organizations)."""

    kind = "organization"
    column_types = {"name": "string"}  # noqa: RUF012

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Upsert one row per organization; fill in references that waited for it."""
        out = Outcome()
        t, links = self.run.tables, self.run.links
        known = links.cdp_ids(conn, "organization", [c.pipedrive_id for c in changes])
        existing = {
            row["organization_id"]: dict(row)
            for row in conn.execute(
                sa.select(t.organizations).where(
                    bulk.among(t.organizations.c.organization_id, known.values())
                )
            ).mappings()
        }
        rows, created = [], []
        for change in changes:
            pid, new = change.pipedrive_id, change.new
            old_row = existing.get(known.get(pid, ""))
            row = {
                "organization_id": known.get(pid) or cdp_id("organization", pid),
                "name": new.get("name"),
                "pipedrive_org_id": pid,
                "attributes": {k: v for k, v in new.items() if k not in COLUMN_FIELDS},
                "source": (old_row or {}).get("source") or "pipedrive",
                "created_at": parse_time(new.get("add_time")),
                "updated_at": change.update_time,
                "is_deleted": change.deleted,
                "deleted_at": ((old_row or {}).get("deleted_at") or change.deleted_at)
                if change.deleted
                else None,
            }
            rows.append(row)
            if old_row is None:
                created.append(pid)
                out.counts["inserted"] += 1
            else:
                out.counts["updated"] += 1
            out.counts["deleted"] += change.deleted
            out.stored.add(pid)
            out.activities += organization_activities(change.old, new, deleted=change.deleted)
        bulk.upsert(conn, t.organizations, rows)
        links.backfill_organization(conn, created)
        out.regroup["organization"].update(created)
        return out
