"""What the CDP and the audiences must hold, computed from the sandbox's own data.

Nothing here reads the CDP or reuses target or dbt code: the rules are the documented
semantics (docs/cdp-schema.md, target-cdp/README.md, transform/models/audiences/*.yml) applied
to the sandbox's source of truth (`SandboxControl.dataset`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

DAY = dt.timedelta(days=1)
ENGAGED_DAYS, RECENT_DAYS, LOOKBACK_DAYS, RETENTION_DAYS = 30, 30, 90, 90


def parse_time(value: str | None) -> dt.datetime | None:
    """A v2 (RFC 3339) or v1 (`YYYY-MM-DD HH:MM:SS`, UTC) time; None for empty or zero dates."""
    if not value or value.startswith("0000"):
        return None
    text = value.replace("Z", "+00:00").replace(" ", "T")
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def primary_email(person: dict[str, Any]) -> str | None:
    """The person's primary email, trimmed and lower-cased."""
    for email in person.get("emails") or []:
        if email.get("primary") and email.get("value"):
            return str(email["value"]).strip().lower()
    return None


def email_permission_of_new_person(person: dict[str, Any]) -> bool:
    """Default rule: subscribed = yes, any other status = no, no status = yes (the default)."""
    status = str(person.get("marketing_status") or "").strip().lower()
    return status in ("subscribed", "")


def email_permissions_of_new_people(persons: dict[int, dict[str, Any]]) -> dict[int, bool]:
    """Each person's email permission when one batch creates them all.

    The default rule, then suppression: a yes becomes a no when a person created before it (the
    target creates a batch's people in id order) has the same email and opted out: Pipedrive
    says `unsubscribed`, or that person was itself suppressed. Another status (`no_consent`,
    `archived`) is no permission, not an opt-out, and suppresses nobody.
    """
    opted_out: set[str] = set()
    permissions: dict[int, bool] = {}
    for pid in sorted(persons):
        email = primary_email(persons[pid])
        status = str(persons[pid].get("marketing_status") or "").strip().lower()
        suppressed = email in opted_out and email_permission_of_new_person(persons[pid])
        if email and (status == "unsubscribed" or suppressed):
            opted_out.add(email)
        permissions[pid] = email_permission_of_new_person(persons[pid]) and not suppressed
    return permissions


@dataclass
class Sandbox:
    """A snapshot of the sandbox's data, indexed the way the expectations need it."""

    persons: dict[int, dict[str, Any]]
    organizations: dict[int, dict[str, Any]]
    deals: dict[int, dict[str, Any]]
    activities: dict[int, dict[str, Any]]
    notes: dict[int, dict[str, Any]]

    @classmethod
    def read(cls, control: Any) -> Sandbox:
        """Everything the sandbox holds now, deleted records included."""
        return cls(
            **{
                kind: {r["id"]: r for r in control.dataset(kind, include_deleted=True)}
                for kind in ("persons", "organizations", "deals", "activities", "notes")
            }
        )

    def live_persons(self) -> dict[int, dict[str, Any]]:
        """Persons not deleted."""
        return {i: p for i, p in self.persons.items() if not p.get("is_deleted")}

    def listed(self, kind: str, now: dt.datetime) -> list[dict[str, Any]]:
        """The records of a kind Pipedrive's list endpoints return (per the sandbox README).

        Deleted persons, organizations, activities and notes vanish from lists; deleted deals
        stay listed (with `status=deleted`) for 30 days.
        """
        records = getattr(self, kind).values()
        if kind == "deals":
            return [
                d
                for d in records
                if d["status"] != "deleted"
                or parse_time(d["update_time"]) >= now - dt.timedelta(days=30)
            ]
        if kind == "notes":
            return [n for n in records if n.get("active_flag", True)]
        return [r for r in records if not r.get("is_deleted")]

    def read_since(self, kind: str, bookmark: dt.datetime, now: dt.datetime) -> int:
        """How many listed records an incremental read from ``bookmark`` (inclusive) returns."""
        return sum(parse_time(r["update_time"]) >= bookmark for r in self.listed(kind, now))

    def bookmark(self, kind: str, now: dt.datetime) -> dt.datetime:
        """The latest update_time among the listed records: a full sync's bookmark."""
        return max(parse_time(r["update_time"]) for r in self.listed(kind, now))

    def crm_touches(self) -> list[tuple[int | None, int | None, dt.datetime]]:
        """(pipedrive person, pipedrive deal, when) of every CRM engagement the CDP records.

        Completed Pipedrive activities, notes added and deal stage changes; deleted activities
        and notes never reach the CDP (they vanish from Pipedrive's lists).
        """
        touches = []
        for activity in self.activities.values():
            done_at = parse_time(activity.get("marked_as_done_time"))
            if activity.get("done") and done_at and not activity.get("is_deleted"):
                touches.append((activity.get("person_id"), activity.get("deal_id"), done_at))
        for note in self.notes.values():
            added = parse_time(note.get("add_time"))
            if note.get("active_flag", True) and added:
                touches.append((note.get("person_id"), note.get("deal_id"), added))
        for deal in self.deals.values():
            changed = parse_time(deal.get("stage_change_time"))
            if changed and deal.get("stage_id") is not None and deal["status"] != "deleted":
                touches.append((deal.get("person_id"), deal["id"], changed))
        return touches

    def engaged_deals(self, as_of: dt.datetime) -> set[int]:
        """Pipedrive ids of open, live, unarchived deals with a touch in [as_of - 30 d, as_of)."""
        start = as_of - ENGAGED_DAYS * DAY
        touched = {deal for _, deal, when in self.crm_touches() if start <= when < as_of}
        return {
            d["id"]
            for d in self.deals.values()
            if d["status"] == "open"
            and not d.get("is_deleted")
            and not d.get("is_archived")
            and d["id"] in touched
        }

    def slipping_subscribers(
        self, as_of: dt.datetime, subscribed: set[int], created_at: dict[int, dt.datetime]
    ) -> set[int]:
        """Pipedrive ids of subscribed people whose last engagement is 30 to 90 days old."""
        last: dict[int, dt.datetime] = {}
        for person, _, when in self.crm_touches():
            if person is not None and when < as_of:
                last[person] = max(when, last.get(person, when))
        return {
            person
            for person in subscribed
            if person in last
            and as_of - LOOKBACK_DAYS * DAY <= last[person] < as_of - RECENT_DAYS * DAY
            and created_at[person] < as_of - RECENT_DAYS * DAY
        }

    def repeat_customers(self, people: set[int]) -> set[int]:
        """Pipedrive ids of people (among ``people``) with two or more won, live deals."""
        wins: dict[int, int] = defaultdict(int)
        for deal in self.deals.values():
            if deal["status"] == "won" and not deal.get("is_deleted") and deal.get("person_id"):
                wins[deal["person_id"]] += 1
        return {person for person, count in wins.items() if count >= 2 and person in people}
