"""Pipedrive deals into ``deals``."""

from __future__ import annotations

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activities import derived_from_deal, lead_converted
from target_cdp.checks import DEAL_TIMES, number_problem
from target_cdp.records import cdp_id, parse_time
from target_cdp.sinks.leads import lead_parties
from target_cdp.sinks.objects import Outcome, PipedriveObjectSink, stored_deleted_at
from target_cdp.snapshots import Change

COLUMN_FIELDS = frozenset(
    {
        "id",
        "person_id",
        "org_id",
        "title",
        "status",
        "value",
        "currency",
        "pipeline_id",
        "stage_id",
        "is_deleted",
        "is_archived",
        *DEAL_TIMES,
    }
)


class DealsSink(PipedriveObjectSink):
    """The ``deals`` stream."""

    column_types = {  # noqa: RUF012
        "title": "string",
        "status": "string",
        "value": "number",
        "currency": "string",
        "is_archived": "boolean",
    }

    def check(self, record: dict) -> str | None:
        """Also reject deal values the numeric column cannot hold."""
        return super().check(record) or number_problem(record, "value")

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Upsert one row per deal, with its person and organization resolved when known."""
        out = Outcome()
        t, links = self.run.tables, self.run.links
        known = links.cdp_ids(conn, "deal", [c.pipedrive_id for c in changes])
        people = links.cdp_ids(conn, "person", {c.new.get("person_id") for c in changes})
        orgs = links.cdp_ids(conn, "organization", {c.new.get("org_id") for c in changes})
        conversions: dict[int, str] = {}
        unsure: set[int] = set()
        for c in changes:
            lead = c.new.get("source_lead_id")
            if not lead or c.deleted:
                continue
            if c.old is not None and "source_lead_id" not in c.old:
                # A stored deal whose records never carried source_lead_id (stored from
                # webhooks, which cannot carry it, or before deals asked for it) converts
                # only from a lead the CDP holds: a conversion it could have told, not one
                # of a lead it never saw.
                unsure.add(c.pipedrive_id)
            elif c.old is not None and lead == c.old["source_lead_id"]:
                continue
            conversions[c.pipedrive_id] = lead
        parties = lead_parties(conn, self.run, conversions.values())
        conversions = {
            pid: lead for pid, lead in conversions.items() if pid not in unsure or lead in parties
        }
        rows, created = [], []
        for change in changes:
            pid, new, old = change.pipedrive_id, change.new, change.old or {}
            status = new.get("status")
            if status == "deleted":  # a deleted deal keeps its last real status
                status = old.get("status") if old.get("status") != "deleted" else None
            row = {
                "deal_id": known.get(pid) or cdp_id("deal", pid),
                "pipedrive_deal_id": pid,
                "person_id": people.get(new.get("person_id")),
                "organization_id": orgs.get(new.get("org_id")),
                "pipedrive_person_id": new.get("person_id"),
                "pipedrive_org_id": new.get("org_id"),
                "title": new.get("title"),
                "status": status,
                "value": change.raw.get("value"),
                "currency": new.get("currency"),
                "pipeline_id": new.get("pipeline_id"),
                "stage_id": new.get("stage_id"),
                **{name: parse_time(new.get(name)) for name in DEAL_TIMES},
                "is_deleted": change.deleted,
                "deleted_at": None,
                "is_archived": new.get("is_archived"),
                "attributes": {k: v for k, v in new.items() if k not in COLUMN_FIELDS},
            }
            if change.deleted:
                row["deleted_at"] = change.deleted_at or stored_deleted_at(
                    conn, self.run.tables.deals, "deal_id", row["deal_id"]
                )
            rows.append(row)
            if pid in known:
                out.counts["updated"] += 1
            else:
                created.append(pid)
                out.counts["inserted"] += 1
            out.counts["deleted"] += change.deleted
            out.stored.add(pid)
            out.activities += derived_from_deal(
                change.old, new, deleted=change.deleted, deleted_at=change.deleted_at
            )
            if pid in conversions:
                lead = conversions[pid]
                out.activities += lead_converted(new, lead, parties.get(lead))
            out.to_ids[pid] = row["deal_id"]
        bulk.upsert(conn, t.deals, rows)
        links.backfill_deal(conn, created)
        out.rebuild_associations["deal"].update(created)
        return out
