"""Pipedrive organizations into ``organizations``."""

from __future__ import annotations

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activities import derived_from_organization
from target_cdp.merges import Merges, survivor_of
from target_cdp.records import cdp_id, parse_time
from target_cdp.sinks.objects import Outcome, PipedriveObjectSink
from target_cdp.snapshots import Change

COLUMN_FIELDS = frozenset({"id", "name", "add_time", "update_time", "is_deleted"})


class OrganizationsSink(PipedriveObjectSink):
    """The ``organizations`` stream (Pipedrive is the only writer of its organizations)."""

    column_types = {"name": "string"}  # noqa: RUF012

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Upsert one row per organization; fill in references that waited for it.

        Organizations merged away in Pipedrive are applied after the others (``_absorb``), so
        a survivor in the same batch is already written.
        """
        out = Outcome()
        t, links = self.run.tables, self.run.links
        merges = [c for c in changes if survivor_of(c.new) is not None]
        changes = [c for c in changes if survivor_of(c.new) is None]
        known = links.cdp_ids(
            conn, "organization", [c.pipedrive_id for c in changes], follow_merges=False
        )
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
            out.activities += derived_from_organization(change.old, new, deleted=change.deleted)
        bulk.upsert(conn, t.organizations, rows)
        links.backfill_organization(conn, created)
        out.rebuild_associations["organization"].update(created)
        for change in sorted(merges, key=lambda c: c.pipedrive_id):
            self._absorb(conn, change, survivor_of(change.new) or 0, out)
        return out

    def _absorb(self, conn: sa.Connection, change: Change, survivor_pid: int, out: Outcome) -> None:
        """Fold an organization merged away in Pipedrive into its survivor (``merges.py``).

        Pipedrive is the only writer of organizations, so no field is merged: the survivor's
        record carries what Pipedrive kept.
        """
        t, links, pid = self.run.tables, self.run.links, change.pipedrive_id
        orgs = t.organizations
        linked = {
            row["pipedrive_org_id"]: dict(row)
            for row in conn.execute(
                sa.select(orgs).where(bulk.among(orgs.c.pipedrive_org_id, [pid, survivor_pid]))
            ).mappings()
        }
        absorbed, survivor = linked.get(pid), linked.get(survivor_pid)
        absorbed_id = None if absorbed is None else absorbed["organization_id"]
        survivor_id = links.cdp_ids(conn, "organization", [survivor_pid]).get(survivor_pid)
        if absorbed is not None and absorbed["merged_into"] is None:
            if survivor is None:
                # No survivor in the CDP: the absorbed organization becomes the survivor's.
                absorbed["pipedrive_org_id"] = survivor_pid
                survivor_id = absorbed_id
            elif survivor_id != absorbed_id:
                absorbed["merged_into"] = survivor_id
                absorbed["is_deleted"] = True
                absorbed["deleted_at"] = absorbed["deleted_at"] or change.update_time
            bulk.upsert(conn, orgs, [absorbed])
        Merges(t).move_references(
            conn, "organization", (pid, absorbed_id), (survivor_pid, survivor_id)
        )
        if survivor_id is not None:
            links.backfill_organization(conn, [survivor_pid])
            out.rebuild_associations["organization"].add(survivor_pid)
        if absorbed_id is not None:
            out.to_ids[pid] = absorbed_id
        out.counts["deleted"] += 1
        out.stored.add(pid)
        out.activities += derived_from_organization(change.old, change.new, deleted=True)
