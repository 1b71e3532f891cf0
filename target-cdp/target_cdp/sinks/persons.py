"""Pipedrive persons into ``people``: identity, field merge, permissions, conflicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from target_cdp import bulk, consent
from target_cdp.activities import person_activities
from target_cdp.merge import COLUMNS, merge_person, propose
from target_cdp.records import cdp_id, parse_time, time_text
from target_cdp.sinks.base import Change, Outcome, PipedriveObjectSink


def _earliest(row: dict) -> tuple[Any, ...]:
    created = row.get("created_at")
    return (created is None, created or dt.datetime.min.replace(tzinfo=dt.UTC), row["person_id"])


class PersonsSink(PipedriveObjectSink):
    """The ``persons`` stream."""

    kind = "person"
    references = {"org_ref": "org_id"}  # noqa: RUF012

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:  # noqa: PLR0912, PLR0915
        """Match each person to a CDP person (or create one) and merge its fields."""
        run, settings = self.run, self.run.settings
        people = run.tables.people
        out = Outcome()
        linked = self._people(conn, people.c.pipedrive_person_id, [c.pipedrive_id for c in changes])
        by_link = {row["pipedrive_person_id"]: row for row in linked}
        orgs = run.links.cdp_ids(conn, "organization", {c.new.get("org_id") for c in changes})
        proposals = {
            c.pipedrive_id: propose(c.new, settings.blocked_identifiers, orgs) for c in changes
        }
        emails = {
            proposals[c.pipedrive_id].get("email") for c in changes if c.pipedrive_id not in by_link
        } - {None}
        by_email: dict[str, list[dict]] = {}
        for row in self._people(conn, people.c.email, sorted(emails)):
            by_email.setdefault(row["email"], []).append(row)
        written: dict[str, dict] = {}
        decisions: list[dict] = []
        conflicts: list[dict] = []
        newly_linked: dict[int, str] = {}
        for change in sorted(changes, key=lambda c: c.pipedrive_id):
            pid, new = change.pipedrive_id, change.new
            proposal = proposals[pid]
            when = change.update_time or parse_time(new.get("add_time"))
            existing = by_link.get(pid)
            occasion = None
            if existing is None:
                email = proposal.get("email")
                candidates = by_email.get(email, []) if email else []
                unlinked = [r for r in candidates if r["pipedrive_person_id"] is None]
                if unlinked:
                    existing = dict(min(unlinked, key=_earliest))
                    occasion = "linked"
                elif candidates:
                    other = min(candidates, key=lambda r: r["person_id"])
                    conflicts.append(
                        {
                            "conflict_key": (
                                f"pipedrive:{pid}:email:{email}:person:{other['person_id']}"
                            ),
                            "pipedrive_person_id": pid,
                            "email": email,
                            "conflicting_person_id": other["person_id"],
                            "conflicting_pipedrive_person_id": other["pipedrive_person_id"],
                            "resolution": "created_separate_person"
                            if settings.create_new_people
                            else "skipped",
                            "detected_at": when,
                        }
                    )
                if existing is None and not settings.create_new_people:
                    out.counts["skipped"] += 1
                    continue
            row = self._merge(existing, change, proposal)
            if existing is None:
                email_decision, sms_decision = consent.decide_new(new, settings)
                row["email_permission"], row["sms_permission"] = (
                    email_decision.value,
                    sms_decision.value,
                )
                occasion = "created"
                out.counts["inserted"] += 1
            else:
                current = {
                    "email": existing.get("email_permission"),
                    "sms": existing.get("sms_permission"),
                }
                email_decision, sms_decision = consent.keep_existing(new, settings, current)
                if (
                    occasion is None
                    and change.old is not None
                    and consent.source_values(change.old, settings)
                    != consent.source_values(new, settings)
                ):
                    occasion = f"updated:{time_text(when)}"
                out.counts["updated" if row != existing else "unchanged"] += 1
            if occasion is not None:
                for decision in (email_decision, sms_decision):
                    decisions.append(
                        consent.decision_row(decision, row["person_id"], pid, when, occasion)
                    )
            if occasion in ("created", "linked"):
                newly_linked[pid] = row["person_id"]
                for index_email in {proposal.get("email"), row["email"]} - {None}:
                    same = by_email.get(index_email, [])
                    by_email[index_email] = [
                        *(r for r in same if r["person_id"] != row["person_id"]),
                        row,
                    ]
            written[row["person_id"]] = row
            out.stored.add(pid)
            out.activities += person_activities(change.old, new, deleted=change.deleted)
            out.to_ids[pid] = row["person_id"]
            if change.deleted:
                out.counts["deleted"] += 1
        bulk.upsert(conn, people, list(written.values()))
        bulk.upsert(conn, run.tables.permission_decisions, decisions, update=False)
        bulk.upsert(conn, run.tables.identity_conflicts, conflicts, update=False)
        run.links.backfill_person(conn, newly_linked)
        run.activity_log.resolve_people(conn, newly_linked)
        out.regroup["person"].update(newly_linked)
        return out

    def _people(self, conn: sa.Connection, column: sa.Column, values: list[Any]) -> list[dict]:
        people = self.run.tables.people
        statement = sa.select(people).where(bulk.among(column, values))
        return [dict(r) for r in conn.execute(statement).mappings()]

    def _merge(self, existing: dict | None, change: Change, proposal: dict[str, Any]) -> dict:
        """The full ``people`` row after this change."""
        new, pid = change.new, change.pipedrive_id
        fields = (
            None if existing is None else {n: existing.get(n) for n in (*COLUMNS, "attributes")}
        )
        if fields is not None:
            fields["attributes"] = dict(fields["attributes"] or {})
        merged = merge_person(fields, proposal, self.run.settings)
        if existing is None:
            row: dict[str, Any] = {column.name: None for column in self.run.tables.people.columns}
            row |= {
                "person_id": cdp_id("person", pid),
                "source": "pipedrive",
                "created_at": parse_time(new.get("add_time")),
                "updated_at": change.update_time,
                "is_deleted": False,
                "deleted_at": None,
                "pipedrive_deleted_at": None,
            }
        else:
            row = dict(existing)
        row.update(merged)
        row["attributes"] = row["attributes"] or {}
        row["pipedrive_person_id"] = pid
        if "org_id" in new:
            row["pipedrive_org_id"] = new["org_id"]
        from_pipedrive = row.get("source") == "pipedrive"
        if change.deleted:
            deleted_at = row.get("pipedrive_deleted_at") or change.deleted_at or change.update_time
            row["pipedrive_deleted_at"] = deleted_at
            if from_pipedrive:
                row["is_deleted"], row["deleted_at"] = True, row.get("deleted_at") or deleted_at
        elif row.get("pipedrive_deleted_at") is not None:
            row["pipedrive_deleted_at"] = None
            if from_pipedrive:
                row["is_deleted"], row["deleted_at"] = False, None
        if existing is not None and row != existing and change.update_time is not None:
            row["updated_at"] = max(filter(None, (existing.get("updated_at"), change.update_time)))
        return row
