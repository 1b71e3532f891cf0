"""Pipedrive persons into ``people``: identity, field merge, permissions, conflicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from target_cdp import bulk, consent
from target_cdp.activities import person_activities
from target_cdp.identity import email_key
from target_cdp.merge import COLUMNS, Field, merge_person, propose
from target_cdp.records import cdp_id, parse_time, time_text
from target_cdp.sinks.base import Change, Outcome, PipedriveObjectSink


def _earliest(row: dict) -> tuple[Any, ...]:
    created = row.get("created_at")
    return (created is None, created or dt.datetime.min.replace(tzinfo=dt.UTC), row["person_id"])


class PeopleIndex:
    """The CDP people a batch can match, kept current while the batch is processed.

    People are indexed by their stored email trimmed and lower-cased (``email_key``), so a
    normalized incoming email finds ``Alice@Example.io`` stored by another source.
    """

    def __init__(self, linked: list[dict], by_email: list[dict]) -> None:
        self.by_link = {row["pipedrive_person_id"]: row for row in linked}
        self.by_email: dict[str, list[dict]] = {}
        for row in by_email:
            if key := email_key(row["email"]):
                self.by_email.setdefault(key, []).append(row)

    def match(self, pipedrive_id: int, email: str | None) -> tuple[dict | None, dict | None]:
        """(the person to merge into, a person linked to another Pipedrive person).

        The linked person first; else the earliest unlinked person with the email. A person
        with the email who is linked to another Pipedrive person is never merged into.
        """
        if pipedrive_id in self.by_link:
            return self.by_link[pipedrive_id], None
        candidates = self.by_email.get(email, []) if email else []
        unlinked = [r for r in candidates if r["pipedrive_person_id"] is None]
        if unlinked:
            return dict(min(unlinked, key=_earliest)), None
        if candidates:
            return None, min(candidates, key=lambda r: r["person_id"])
        return None, None

    def unsubscribed(self, email: str | None) -> bool:
        """Whether a person with this email (deleted or not, any source) has email permission false.

        Those are all in the index for the email of every person the batch may create: the query
        by email fetched them, and people written earlier in the batch were added.
        """
        return any(r["email_permission"] is False for r in self.by_email.get(email, []))

    def add(self, row: dict, *emails: str | None) -> None:
        """Index a person just written, under its emails."""
        self.by_link[row["pipedrive_person_id"]] = row
        for email in {email_key(e) for e in emails} - {None}:
            same = self.by_email.get(email, [])
            self.by_email[email] = [*(r for r in same if r["person_id"] != row["person_id"]), row]


class PersonsSink(PipedriveObjectSink):
    """The ``persons`` stream."""

    kind = "person"
    references = {"org_ref": "org_id"}  # noqa: RUF012
    column_types = {"first_name": "string", "last_name": "string"}  # noqa: RUF012

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Match each person to a CDP person (or create one) and merge its fields."""
        run, settings = self.run, self.run.settings
        out = Outcome()
        orgs = run.links.cdp_ids(conn, "organization", {c.new.get("org_id") for c in changes})
        proposals = {
            c.pipedrive_id: propose(c.new, settings.blocked_identifiers, orgs) for c in changes
        }
        index = self._index(conn, changes, proposals)
        written: dict[str, dict] = {}
        decisions: list[dict] = []
        conflicts: list[dict] = []
        newly_linked: dict[int, str] = {}
        for change in sorted(changes, key=lambda c: c.pipedrive_id):
            pid, proposal = change.pipedrive_id, proposals[change.pipedrive_id]
            when = change.update_time or parse_time(change.new.get("add_time"))
            existing, other = index.match(pid, proposal.get("email"))
            if other is not None:
                conflicts.append(self._conflict(pid, proposal["email"], other, when))
            if existing is None and not settings.create_new_people:
                out.counts["skipped"] += 1
                continue
            row = self._merge(existing, change, proposal)
            suppressed = (
                existing is None
                and settings.suppress_unsubscribed_emails
                and index.unsubscribed(proposal.get("email"))
            )
            decisions += self._permissions(row, existing, change, when, suppressed=suppressed)
            if existing is not None and row != existing and change.update_time is not None:
                row["updated_at"] = max(
                    filter(None, (existing.get("updated_at"), change.update_time))
                )
            if existing is None or existing["pipedrive_person_id"] is None:
                newly_linked[pid] = row["person_id"]
            index.add(row, proposal.get("email"), row["email"])
            if existing is None:
                out.counts["inserted"] += 1
            else:
                out.counts["updated" if row != existing else "unchanged"] += 1
            out.counts["deleted"] += change.deleted
            written[row["person_id"]] = row
            out.stored.add(pid)
            out.to_ids[pid] = row["person_id"]
            out.activities += person_activities(change.old, change.new, deleted=change.deleted)
        bulk.upsert(conn, run.tables.people, list(written.values()))
        bulk.upsert(conn, run.tables.permission_decisions, decisions, update=False)
        bulk.upsert(conn, run.tables.identity_conflicts, conflicts, update=False)
        run.links.backfill_person(conn, newly_linked)
        run.activity_log.resolve_people(conn, newly_linked)
        out.regroup["person"].update(newly_linked)
        return out

    def _index(
        self, conn: sa.Connection, changes: list[Change], proposals: dict[int, dict]
    ) -> PeopleIndex:
        """The people linked to the batch's persons, and those with the others' emails."""
        people = self.run.tables.people
        linked = self._people(conn, people.c.pipedrive_person_id, [c.pipedrive_id for c in changes])
        linked_ids = {row["pipedrive_person_id"] for row in linked}
        unmatched = {
            proposals[c.pipedrive_id].get("email")
            for c in changes
            if c.pipedrive_id not in linked_ids
        } - {None}
        stored_email = sa.func.lower(sa.func.trim(people.c.email), type_=sa.Text)
        return PeopleIndex(linked, self._people(conn, stored_email, sorted(unmatched)))

    def _people(
        self, conn: sa.Connection, column: sa.ColumnElement, values: list[Any]
    ) -> list[dict]:
        people = self.run.tables.people
        statement = sa.select(people).where(bulk.among(column, values))
        return [dict(r) for r in conn.execute(statement).mappings()]

    def _conflict(self, pid: int, email: str, other: dict, when: dt.datetime | None) -> dict:
        """The ``identity_conflicts`` row of a person whose email belongs to someone else."""
        return {
            "conflict_key": f"pipedrive:{pid}:email:{email}:person:{other['person_id']}",
            "pipedrive_person_id": pid,
            "email": email,
            "conflicting_person_id": other["person_id"],
            "conflicting_pipedrive_person_id": other["pipedrive_person_id"],
            "resolution": "created_separate_person"
            if self.run.settings.create_new_people
            else "skipped",
            "detected_at": when,
        }

    def _permissions(
        self,
        row: dict,
        existing: dict | None,
        change: Change,
        when: dt.datetime | None,
        *,
        suppressed: bool,
    ) -> list[dict]:
        """Set the permissions of the person; record the decisions the change calls for.

        ``suppressed``: another CDP person with the new person's email is unsubscribed.
        """
        settings, new = self.run.settings, change.new
        occasion: str | None = None
        if existing is None:
            email, sms = consent.decide_new(new, settings)
            decided = (consent.suppressed(email) if suppressed else email, sms)
            occasion = "created"
        else:
            # The channels whose Pipedrive value is new to the CDP: all on linking, else changed.
            news: set[str] = set()
            if existing["pipedrive_person_id"] is None:
                occasion, news = "linked", {"email", "sms"}
            elif change.old is not None:
                before = consent.source_values(change.old, settings)
                after = consent.source_values(new, settings)
                news = {channel for channel in after if after[channel] != before[channel]}
                if news:
                    occasion = f"updated:{time_text(when)}"
            lower: set[str] = set()
            if settings.propagate_unsubscribes:
                lower = news & consent.says_no(new, settings)
            current = {"email": existing["email_permission"], "sms": existing["sms_permission"]}
            decided = consent.decide_existing(new, settings, current, lower)
        row["email_permission"], row["sms_permission"] = (d.value for d in decided)
        if occasion is None:
            return []
        pid = change.pipedrive_id
        return [consent.decision_row(d, row["person_id"], pid, when, occasion) for d in decided]

    def _merge(self, existing: dict | None, change: Change, proposal: dict[Field, Any]) -> dict:
        """The ``people`` row after this change, but for permissions and ``updated_at``."""
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
        return row
