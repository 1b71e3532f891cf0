"""Pipedrive persons into ``people``: identity, field merge, permissions, conflicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from target_cdp import bulk, consent
from target_cdp.activities import derived_from_person
from target_cdp.identity import email_key
from target_cdp.merge import COLUMNS, Field, merge_person, propose
from target_cdp.merges import Merges, merged_fields, restrictive, survivor_of
from target_cdp.records import cdp_id, parse_time, time_text
from target_cdp.settings import Settings
from target_cdp.sinks.objects import Outcome, PipedriveObjectSink
from target_cdp.snapshots import Change
from target_cdp.writeback import is_echo


def _earliest(row: dict) -> tuple[Any, ...]:
    created = row.get("created_at")
    return (created is None, created or dt.datetime.min.replace(tzinfo=dt.UTC), row["person_id"])


def _more_restrictive(kept: consent.Decision, fresh: consent.Decision) -> consent.Decision:
    """A merged person's decision: the survivor's own value when it is more restrictive."""
    if restrictive(kept.value, fresh.value) == kept.value:
        return kept
    return consent.Decision(kept.channel, fresh.value, "merged", fresh.source_value)


class PeopleIndex:
    """The CDP people a batch can match, kept current while the batch is processed.

    People are indexed by their stored email trimmed and lower-cased (``email_key``), so a
    normalized incoming email finds ``Alice@Example.io`` stored by another source.
    """

    def __init__(
        self,
        linked: list[dict],
        by_email: list[dict],
        decisions: dict[str, list[consent.Decision]],
        waiting: set[str],
    ) -> None:
        self.by_link = {row["pipedrive_person_id"]: row for row in linked}
        #: The recorded email decisions of the people without email permission.
        self.decisions = decisions
        #: The people whose email permission waits for a record that can tell it.
        self.waiting = waiting
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

    def unsubscribed(self, email: str | None, settings: Settings) -> bool:
        """Whether a person with this email (deleted or not, any source) opted out of email.

        Those are all in the index for the email of every person the batch may create: the query
        by email fetched them with their decisions, and people written earlier in the batch were
        added with theirs.
        """
        return any(
            consent.opted_out(r, self.decisions.get(r["person_id"], []), settings)
            for r in self.by_email.get(email, [])
        )

    def add(self, row: dict, *emails: str | None, decisions: list[dict]) -> None:
        """Index a person just written, under its emails, with the decisions just made."""
        self.by_link[row["pipedrive_person_id"]] = row
        made = self.decisions.setdefault(row["person_id"], [])
        made += (consent.Decision.of(d) for d in decisions)
        if consent.waits(consent.Decision.of(d) for d in decisions):
            self.waiting.add(row["person_id"])
        elif any(
            d["channel"] == "email" and d["rule"] != "existing_person_unchanged" for d in decisions
        ):
            self.waiting.discard(row["person_id"])
        for email in {email_key(e) for e in emails} - {None}:
            same = self.by_email.get(email, [])
            self.by_email[email] = [*(r for r in same if r["person_id"] != row["person_id"]), row]


class PersonsSink(PipedriveObjectSink):
    """The ``persons`` stream."""

    column_types = {"first_name": "string", "last_name": "string"}  # noqa: RUF012

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Match each person to a CDP person (or create one) and merge its fields.

        Persons merged away in Pipedrive are applied after the others (``_absorb``), so a
        survivor in the same batch is already written.
        """
        run, settings = self.run, self.run.settings
        out = Outcome()
        merges = [c for c in changes if survivor_of(c.new) is not None]
        changes = [c for c in changes if survivor_of(c.new) is None]
        orgs = run.links.cdp_ids(conn, "organization", {c.new.get("org_id") for c in changes})
        proposals = {
            c.pipedrive_id: propose(c.new, settings.blocked_identifiers, orgs) for c in changes
        }
        index = self._index(conn, changes, proposals)
        absorbing = self._absorbing(conn, [c.pipedrive_id for c in changes if c.old is None])
        written_back = run.writebacks.writes(conn, "person", [c.pipedrive_id for c in changes])
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
            # The echo of a person the write-back wrote from a CDP person of another source
            # only fills that person's gaps; a later edit in Pipedrive merges (writeback.py).
            echo = existing is not None and is_echo(change.update_time, written_back.get(pid, []))
            row = self._merge(
                existing, change, proposal, fill_only=echo and existing.get("source") != "pipedrive"
            )
            waiting = existing is not None and existing["person_id"] in index.waiting
            suppressed = (
                (existing is None or waiting)
                and settings.suppress_unsubscribed_emails
                and index.unsubscribed(proposal.get("email"), settings)
            )
            made = self._permissions(
                row,
                existing,
                change,
                when,
                suppressed=suppressed,
                absorbing=pid in absorbing,
                waiting=waiting,
            )
            decisions += made
            if existing is not None and row != existing and change.update_time is not None:
                row["updated_at"] = max(
                    filter(None, (existing.get("updated_at"), change.update_time))
                )
            if existing is None or existing["pipedrive_person_id"] is None:
                newly_linked[pid] = row["person_id"]
            index.add(row, proposal.get("email"), row["email"], decisions=made)
            if existing is None:
                out.counts["inserted"] += 1
            else:
                out.counts["updated" if row != existing else "unchanged"] += 1
            out.counts["deleted"] += change.deleted
            written[row["person_id"]] = row
            out.stored.add(pid)
            out.to_ids[pid] = row["person_id"]
            out.activities += derived_from_person(change.old, change.new, deleted=change.deleted)
        bulk.upsert(conn, run.tables.people, list(written.values()))
        bulk.upsert(conn, run.tables.permission_decisions, decisions, update=False)
        bulk.upsert(conn, run.tables.identity_conflicts, conflicts, update=False)
        run.links.backfill_person(conn, newly_linked)
        run.activity_log.resolve_people(conn, newly_linked)
        out.rebuild_associations["person"].update(newly_linked)
        for change in sorted(merges, key=lambda c: c.pipedrive_id):
            self._absorb(conn, change, survivor_of(change.new) or 0, out)
        return out

    def _absorb(self, conn: sa.Connection, change: Change, survivor_pid: int, out: Outcome) -> None:
        """Fold a person merged away in Pipedrive into its survivor (rule in ``merges.py``)."""
        run, pid = self.run, change.pipedrive_id
        people = run.tables.people
        linked = {
            row["pipedrive_person_id"]: row
            for row in self._people(conn, people.c.pipedrive_person_id, [pid, survivor_pid])
        }
        absorbed, survivor = linked.get(pid), linked.get(survivor_pid)
        if survivor is not None and survivor["merged_into"] is not None:
            [survivor] = self._people(conn, people.c.person_id, [survivor["merged_into"]])
        when = change.update_time
        rows: list[dict] = []
        decisions: list[dict] = []
        if absorbed is not None and absorbed["merged_into"] is None:
            if survivor is None:
                # No survivor in the CDP: the absorbed person becomes the survivor's.
                absorbed = dict(absorbed, pipedrive_person_id=survivor_pid)
                rows.append(absorbed)
            elif survivor["person_id"] != absorbed["person_id"]:
                survivor = dict(survivor) | merged_fields(survivor, absorbed, run.settings)
                for channel in ("email", "sms"):
                    column = f"{channel}_permission"
                    value = restrictive(survivor[column], absorbed[column])
                    if value != survivor[column]:
                        survivor[column] = value
                        decision = consent.Decision(channel, value, "merged", None)
                        decisions.append(
                            consent.decision_row(
                                decision, survivor["person_id"], pid, when, "merged"
                            )
                        )
                deleted = absorbed.get("pipedrive_deleted_at") or when
                absorbed = dict(absorbed, merged_into=survivor["person_id"])
                absorbed["pipedrive_deleted_at"] = deleted
                if absorbed.get("source") == "pipedrive":
                    absorbed["is_deleted"] = True
                    absorbed["deleted_at"] = absorbed.get("deleted_at") or deleted
                rows += [survivor, absorbed]
        bulk.upsert(conn, people, rows)
        bulk.upsert(conn, run.tables.permission_decisions, decisions, update=False)
        absorbed_id = None if absorbed is None else absorbed["person_id"]
        survivor_id = absorbed_id if survivor is None else survivor["person_id"]
        Merges(run.tables).move_references(
            conn, "person", (pid, absorbed_id), (survivor_pid, survivor_id)
        )
        if survivor_id is not None:
            run.links.backfill_person(conn, [survivor_pid])
            run.activity_log.resolve_people(conn, {survivor_pid: survivor_id})
            out.rebuild_associations["person"].add(survivor_pid)
        if absorbed_id is not None:
            out.to_ids[pid] = absorbed_id
        out.counts["deleted"] += 1
        out.stored.add(pid)
        out.activities += derived_from_person(change.old, change.new, deleted=True)

    def _absorbing(self, conn: sa.Connection, pipedrive_ids: list[int]) -> set[int]:
        """Those of these persons that absorbed another in a merge already applied."""
        r = self.run.tables.pipedrive_records
        statement = sa.select(r.c.person_ref).where(
            r.c.stream == self.stream_name, bulk.among(r.c.person_ref, pipedrive_ids)
        )
        return set(conn.execute(statement).scalars())

    def _index(
        self, conn: sa.Connection, changes: list[Change], proposals: dict[int, dict]
    ) -> PeopleIndex:
        """The people linked to the batch's persons, and those with the others' emails."""
        people = self.run.tables.people
        linked = self._people(conn, people.c.pipedrive_person_id, [c.pipedrive_id for c in changes])
        # Linked people without a permission may be waiting for a record that decides it (with
        # suppression by email, as for a new person).
        undecided = {
            row["pipedrive_person_id"] for row in linked if row["email_permission"] is None
        }
        linked_ids = {row["pipedrive_person_id"] for row in linked} - undecided
        unmatched = {
            proposals[c.pipedrive_id].get("email")
            for c in changes
            if c.pipedrive_id not in linked_ids
        } - {None}
        stored_email = sa.func.lower(sa.func.trim(people.c.email), type_=sa.Text)
        by_email = self._people(conn, stored_email, sorted(unmatched))
        asked = {
            r["person_id"]
            for r in linked + by_email
            if r["email_permission"] is False or r["pipedrive_person_id"] in undecided
        }
        decisions, waiting = self._email_decisions(conn, sorted(asked))
        return PeopleIndex(linked, by_email, decisions, waiting)

    def _email_decisions(
        self, conn: sa.Connection, person_ids: list[str]
    ) -> tuple[dict[str, list[consent.Decision]], set[str]]:
        """The email decisions of these people, each also with those of people merged into it,
        and those of these people whose own decisions leave their permission deferred.

        The opt-out of a person merged away carries over to its survivor. Two queries, each on
        an index: the people (these and those merged into them), then their decisions. One
        query joining the two was planned as a scan of every decision, once per batch.
        """
        if not person_ids:
            return {}, set()
        decisions, people = self.run.tables.permission_decisions, self.run.tables.people
        merged_into = dict(
            conn.execute(
                sa.select(people.c.person_id, people.c.merged_into).where(
                    bulk.among(people.c.person_id, person_ids)
                    | bulk.among(people.c.merged_into, person_ids)
                )
            ).all()
        )
        statement = sa.select(decisions).where(
            decisions.c.channel == "email", bulk.among(decisions.c.person_id, merged_into)
        )
        wanted, found, own = set(person_ids), {}, {}
        for row in conn.execute(statement).mappings():
            for holder in {row["person_id"], merged_into[row["person_id"]]} & wanted:
                found.setdefault(holder, []).append(consent.Decision.of(row))
            if row["person_id"] in wanted:
                own.setdefault(row["person_id"], []).append(consent.Decision.of(row))
        return found, {person for person, made in own.items() if consent.waits(made)}

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
        absorbing: bool,
        waiting: bool,
    ) -> list[dict]:
        """Set the permissions of the person; record the decisions the change calls for.

        ``suppressed``: another CDP person with the new (or waiting) person's email opted out.
        ``absorbing``: the person is first seen as the survivor of a merge already applied.
        ``waiting``: the person's email permission was deferred (``consent.DEFERRED``).
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
            email = consent.decide_deferred(new, settings) if waiting else None
            if email is not None:
                decided = (consent.suppressed(email) if suppressed else email, decided[1])
                occasion = f"decided:{time_text(when)}"
            if absorbing and existing["pipedrive_person_id"] == change.pipedrive_id:
                # Linked before its first record: a merge gave it the absorbed person's row.
                occasion = "merged"
                decided = tuple(
                    _more_restrictive(kept, fresh)
                    for kept, fresh in zip(decided, consent.decide_new(new, settings), strict=True)
                )
        row["email_permission"], row["sms_permission"] = (d.value for d in decided)
        if occasion is None:
            return []
        pid = change.pipedrive_id
        return [consent.decision_row(d, row["person_id"], pid, when, occasion) for d in decided]

    def _merge(
        self,
        existing: dict | None,
        change: Change,
        proposal: dict[Field, Any],
        *,
        fill_only: bool = False,
    ) -> dict:
        """The ``people`` row after this change, but for permissions and ``updated_at``."""
        new, pid = change.new, change.pipedrive_id
        fields = (
            None if existing is None else {n: existing.get(n) for n in (*COLUMNS, "attributes")}
        )
        if fields is not None:
            fields["attributes"] = dict(fields["attributes"] or {})
        merged = merge_person(fields, proposal, self.run.settings, fill_only=fill_only)
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
