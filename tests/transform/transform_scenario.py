"""A small hand-made CDP, its changes between builds, and what each audience should hold.

The expectations are computed here in Python from the rows (``reference_*``), following the
definitions documented in transform/models/audiences/*.yml, never read back from dbt's output.
Times are relative to ``T0``, the as_of of the first build.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
LONG_AGO = T0 - 400 * DAY

CRM_ENGAGEMENT = {
    "pipedrive.activity.completed",
    "pipedrive.note.added",
    "pipedrive.deal.stage_changed",
}
MARKETING_ENGAGEMENT = {"email.opened", "email.clicked"}

Row = dict[str, Any]


def days_ago(days: float, *, hours: float = 0) -> dt.datetime:
    """``T0`` minus some days (and hours)."""
    return T0 - dt.timedelta(days=days, hours=hours)


@dataclass
class Cdp:
    """CDP rows by table, keyed like docs/cdp-schema.md."""

    people: list[Row] = field(default_factory=list)
    deals: list[Row] = field(default_factory=list)
    activities: list[Row] = field(default_factory=list)
    activity_summary: list[Row] = field(default_factory=list)
    pipelines: list[Row] = field(default_factory=list)
    stages: list[Row] = field(default_factory=list)

    def tables(self) -> dict[str, list[Row]]:
        """Rows by CDP table name."""
        return {
            "people": self.people,
            "deals": self.deals,
            "activities": self.activities,
            "activity_summary": self.activity_summary,
            "pipelines": self.pipelines,
            "stages": self.stages,
        }

    def person(
        self,
        person_id: str,
        *,
        subscribed: bool | None = True,
        email: str | None = "",
        created_at: dt.datetime | None = LONG_AGO,
        deleted: bool = False,
        marketing_status: str = "subscribed",
        merged_into: str | None = None,
    ) -> None:
        self.people.append(
            {
                "person_id": person_id,
                "email": f"{person_id}@example.com" if email == "" else email,
                "first_name": person_id.title(),
                "email_permission": subscribed,
                "sms_permission": False,
                "pipedrive_person_id": len(self.people) + 1,
                "attributes": {
                    "marketing_status": marketing_status,
                    "custom_fields": {"tier": "gold"},
                },
                "source": "pipedrive",
                "created_at": created_at,
                "updated_at": created_at,
                "is_deleted": deleted,
                "deleted_at": T0 - DAY if deleted else None,
                "merged_into": merged_into,
            }
        )

    def deal(
        self,
        deal_id: str,
        *,
        person_id: str | None,
        status: str = "open",
        won_at: dt.datetime | None = None,
        deleted: bool = False,
        archived: bool = False,
        stage_id: int = 11,
    ) -> None:
        self.deals.append(
            {
                "deal_id": deal_id,
                "pipedrive_deal_id": len(self.deals) + 1,
                "person_id": person_id,
                "title": f"Deal {deal_id}",
                "status": status,
                "value": 1000,
                "currency": "EUR",
                "pipeline_id": 1,
                "stage_id": stage_id,
                "add_time": LONG_AGO,
                "update_time": LONG_AGO,
                "won_time": won_at,
                "is_deleted": deleted,
                "is_archived": archived,
                "attributes": {"probability": 50},
            }
        )

    def activity(
        self,
        activity_type: str,
        occurred_at: dt.datetime,
        *,
        person_id: str | None = None,
        deal_id: str | None = None,
    ) -> None:
        """Add a raw activity and fold it into the summary, as target-cdp does."""
        key = f"test:{activity_type}:{person_id}:{deal_id}:{occurred_at.isoformat()}"
        self.activities.append(
            {
                "activity_key": key,
                "activity_type": activity_type,
                "person_id": person_id,
                "deal_id": deal_id,
                "occurred_at": occurred_at,
                "attributes": {},
                "definition_version": 1,
                "source": activity_type.split(".")[0],
                "source_record": deal_id or person_id,
            }
        )
        if person_id is not None:
            self.summarise(person_id, activity_type, occurred_at)

    def summarise(self, person_id: str, activity_type: str, occurred_at: dt.datetime) -> None:
        """Record an occurrence in the summary only (its raw row purged by retention)."""
        for row in self.activity_summary:
            if row["person_id"] == person_id and row["activity_type"] == activity_type:
                row["first_at"] = min(row["first_at"], occurred_at)
                row["last_at"] = max(row["last_at"], occurred_at)
                row["count"] += 1
                return
        self.activity_summary.append(
            {
                "person_id": person_id,
                "activity_type": activity_type,
                "first_at": occurred_at,
                "last_at": occurred_at,
                "count": 1,
            }
        )

    def copy(self) -> Cdp:
        """A deep enough copy: every row copied."""
        return Cdp(**{name: [dict(row) for row in rows] for name, rows in self.tables().items()})

    def find_deal(self, deal_id: str) -> Row:
        return next(deal for deal in self.deals if deal["deal_id"] == deal_id)

    def find_person(self, person_id: str) -> Row:
        return next(person for person in self.people if person["person_id"] == person_id)


def initial_cdp() -> Cdp:
    """The CDP of the first build: every edge case of the three audiences at ``T0``."""
    cdp = Cdp()
    cdp.pipelines.append({"id": 1, "name": "Sales", "attributes": {"active": True}})
    cdp.stages.extend(
        [
            {"id": 11, "name": "Qualified", "pipeline_id": 1, "order_nr": 1, "attributes": {}},
            {"id": 12, "name": "Proposal", "pipeline_id": 1, "order_nr": 2, "attributes": {}},
        ]
    )

    # engaged_deals
    cdp.person("owner")
    cdp.deal("d_note_29", person_id="owner", stage_id=12)
    cdp.activity("pipedrive.note.added", days_ago(29), person_id="owner", deal_id="d_note_29")
    cdp.deal("d_note_31", person_id="owner")
    cdp.activity("pipedrive.note.added", days_ago(31), person_id="owner", deal_id="d_note_31")
    cdp.deal("d_at_window_start", person_id=None)
    cdp.activity("pipedrive.activity.completed", days_ago(30), deal_id="d_at_window_start")
    cdp.deal("d_at_as_of", person_id=None)
    cdp.activity("pipedrive.deal.stage_changed", T0, deal_id="d_at_as_of")
    for status, deleted, archived in [
        ("won", False, False),
        ("lost", False, False),
        ("open", True, False),
        ("open", False, True),
    ]:
        deal_id = f"d_{status}_{'deleted' if deleted else 'archived' if archived else 'closed'}"
        cdp.deal(deal_id, person_id=None, status=status, deleted=deleted, archived=archived)
        cdp.activity("pipedrive.note.added", days_ago(5), deal_id=deal_id)
    cdp.deal("d_updates_only", person_id=None)
    cdp.activity("pipedrive.deal.updated", days_ago(1), deal_id="d_updates_only")
    cdp.activity("pipedrive.activity.created", days_ago(2), deal_id="d_updates_only")
    cdp.person("clicker")
    cdp.deal("d_person_clicked", person_id="clicker")
    cdp.activity("email.clicked", days_ago(3), person_id="clicker")
    cdp.person("old_opener")
    cdp.deal("d_person_opened_long_ago", person_id="old_opener")
    cdp.activity("email.opened", days_ago(40), person_id="old_opener")
    cdp.person("tied")
    cdp.deal("d_ties", person_id="tied")
    for activity_type in ("pipedrive.note.added", "pipedrive.deal.stage_changed"):
        cdp.activity(activity_type, days_ago(10), person_id="tied", deal_id="d_ties")

    # slipping_subscribers (engagement only in the summary: raw rows purged)
    for person_id, last in [
        ("slip_45", days_ago(45)),
        ("recent_10", days_ago(10)),
        ("lapsed_100", days_ago(100)),
        ("edge_30", days_ago(30)),
        ("edge_90", days_ago(90)),
        ("purged_80", days_ago(80)),
    ]:
        cdp.person(person_id)
        cdp.summarise(person_id, "email.opened", last)
    cdp.person("unsubscribed", subscribed=False, marketing_status="unsubscribed")
    cdp.summarise("unsubscribed", "email.opened", days_ago(45))
    cdp.person("permission_unknown", subscribed=None)
    cdp.summarise("permission_unknown", "email.opened", days_ago(45))
    cdp.person("no_email", email=None)
    cdp.summarise("no_email", "email.opened", days_ago(45))
    cdp.person("blank_email", email="  ")
    cdp.summarise("blank_email", "email.opened", days_ago(45))
    cdp.person("deleted_person", deleted=True)
    # Merged into slip_45 by a Pipedrive merge (a row from another source stays undeleted).
    cdp.person("merged_away", merged_into="slip_45")
    cdp.summarise("merged_away", "email.opened", days_ago(45))
    cdp.summarise("deleted_person", "email.opened", days_ago(45))
    cdp.person("created_20", created_at=days_ago(20))
    cdp.summarise("created_20", "email.clicked", days_ago(40))
    cdp.person("created_at_30", created_at=days_ago(30))
    cdp.summarise("created_at_30", "email.clicked", days_ago(40))
    cdp.person("created_31", created_at=days_ago(31))
    cdp.summarise("created_31", "email.clicked", days_ago(40))
    cdp.person("met_45")
    cdp.summarise("met_45", "pipedrive.activity.completed", days_ago(45))
    cdp.summarise("met_45", "pipedrive.person.updated", days_ago(5))
    cdp.person("opened_then_clicked")
    cdp.summarise("opened_then_clicked", "email.opened", days_ago(60))
    cdp.summarise("opened_then_clicked", "email.clicked", days_ago(10))
    cdp.person("never_engaged")
    cdp.summarise("never_engaged", "pipedrive.person.created", LONG_AGO)
    # Touches recorded only on the person's deal (no person on the note or call) are touches on
    # the deal's person: a note 4 days ago makes an 84-day-old open recent; a call 45 days ago
    # is a last engagement like any other.
    cdp.person("deal_noted")
    cdp.summarise("deal_noted", "email.opened", days_ago(84))
    cdp.deal("d_noted_4", person_id="deal_noted")
    cdp.activity("pipedrive.note.added", days_ago(4), deal_id="d_noted_4")
    cdp.person("deal_called")
    cdp.deal("d_called_45", person_id="deal_called")
    cdp.activity("pipedrive.activity.completed", days_ago(45), deal_id="d_called_45")

    # repeat_customers
    cdp.person("rc_two")
    cdp.deal("rc_two_a", person_id="rc_two", status="won", won_at=days_ago(20))
    cdp.deal("rc_two_b", person_id="rc_two", status="won", won_at=days_ago(10))
    cdp.person("rc_won_open")
    cdp.deal("rc_won_open_a", person_id="rc_won_open", status="won", won_at=days_ago(20))
    cdp.deal("rc_won_open_b", person_id="rc_won_open", status="open")
    cdp.person("rc_one_deleted")
    cdp.deal("rc_one_deleted_a", person_id="rc_one_deleted", status="won", won_at=days_ago(9))
    cdp.deal(
        "rc_one_deleted_b",
        person_id="rc_one_deleted",
        status="won",
        won_at=days_ago(8),
        deleted=True,
    )
    cdp.person("rc_long_ago")
    cdp.deal("rc_long_ago_a", person_id="rc_long_ago", status="won", won_at=days_ago(200))
    cdp.deal("rc_long_ago_b", person_id="rc_long_ago", status="won", won_at=days_ago(200))
    cdp.person("rc_three_one_lost")
    for suffix, status in [("a", "won"), ("b", "won"), ("c", "lost")]:
        cdp.deal(
            f"rc_three_one_lost_{suffix}",
            person_id="rc_three_one_lost",
            status=status,
            won_at=days_ago(30) if status == "won" else None,
        )
    cdp.person("rc_person_deleted", deleted=True)
    cdp.deal("rc_person_deleted_a", person_id="rc_person_deleted", status="won", won_at=T0 - DAY)
    cdp.deal("rc_person_deleted_b", person_id="rc_person_deleted", status="won", won_at=T0 - DAY)
    cdp.person("rc_second_win_later")
    cdp.deal("rc_later_a", person_id="rc_second_win_later", status="won", won_at=days_ago(50))
    cdp.deal("rc_later_b", person_id="rc_second_win_later", status="won", won_at=T0 + DAY)
    return cdp


# --- Changes between builds (the test reloads the database from the rows) -------------------


def change_before_second_build(cdp: Cdp) -> None:
    """Before ``T0 + 2 days``: a deal won, a subscriber gone, a deal touched, a win deleted."""
    cdp.find_deal("d_note_29").update(status="won", won_time=T0 + DAY)
    cdp.find_person("slip_45").update(email_permission=False)
    cdp.find_deal("rc_two_b").update(is_deleted=True, deleted_at=T0 + DAY)
    cdp.activity("pipedrive.note.added", T0 + DAY, person_id="owner", deal_id="d_note_31")


def change_before_third_build(cdp: Cdp) -> None:
    """Before ``T0 + 3 days``: the won deal reopened and moved, the subscriber back."""
    cdp.find_deal("d_note_29").update(status="open", won_time=None)
    cdp.find_person("slip_45").update(email_permission=True)
    cdp.activity(
        "pipedrive.deal.stage_changed",
        T0 + 2.5 * DAY,
        person_id="owner",
        deal_id="d_note_29",
    )


# --- Reference audiences ---------------------------------------------------------------------


def _in_window(moment: dt.datetime | None, start: dt.datetime, end: dt.datetime) -> bool:
    return moment is not None and start <= moment < end


def touched_people(cdp: Cdp, activity: Row) -> set[str]:
    """The people an activity touches: its own person and the person of the deal it is on."""
    deal_people = {
        deal["person_id"] for deal in cdp.deals if deal["deal_id"] == activity["deal_id"]
    }
    return ({activity["person_id"]} | deal_people) - {None}


def reference_engaged_deals(cdp: Cdp, as_of: dt.datetime, days: int = 30) -> dict[str, Row]:
    """deal_id -> {touches_in_window, last_engaged_at} for open, live, unarchived deals."""
    start = as_of - days * DAY
    members = {}
    for deal in cdp.deals:
        if deal["status"] != "open" or deal["is_deleted"] or deal["is_archived"]:
            continue
        touches = [
            activity["occurred_at"]
            for activity in cdp.activities
            if _in_window(activity["occurred_at"], start, as_of)
            and (
                (
                    activity["deal_id"] == deal["deal_id"]
                    and activity["activity_type"] in CRM_ENGAGEMENT
                )
                or (
                    deal["person_id"] in touched_people(cdp, activity)
                    and activity["activity_type"] in MARKETING_ENGAGEMENT
                )
            )
        ]
        if touches:
            members[deal["deal_id"]] = {
                "touches_in_window": len(touches),
                "last_engaged_at": max(touches),
            }
    return members


def reference_slipping_subscribers(
    cdp: Cdp, as_of: dt.datetime, recent_days: int = 30, lookback_days: int = 90
) -> dict[str, dt.datetime]:
    """person_id -> last engagement before as_of, for subscribers slipping at as_of."""
    engagement = CRM_ENGAGEMENT | MARKETING_ENGAGEMENT
    recent_start = as_of - recent_days * DAY
    members = {}
    for person in cdp.people:
        has_email = bool((person["email"] or "").strip())
        gone = person["is_deleted"] or person["merged_into"] is not None
        if not person["email_permission"] or not has_email or gone:
            continue
        if person["created_at"] is not None and person["created_at"] >= recent_start:
            continue
        moments = [
            row["last_at"]
            for row in cdp.activity_summary
            if row["person_id"] == person["person_id"] and row["activity_type"] in engagement
        ] + [
            row["occurred_at"]
            for row in cdp.activities
            if person["person_id"] in touched_people(cdp, row)
            and row["activity_type"] in engagement
        ]
        before = [moment for moment in moments if moment < as_of]
        if before and _in_window(max(before), as_of - lookback_days * DAY, recent_start):
            members[person["person_id"]] = max(before)
    return members


def reference_repeat_customers(
    cdp: Cdp, as_of: dt.datetime, min_won_deals: int = 2
) -> dict[str, int]:
    """person_id -> distinct won, live deals won before as_of, for live people with enough."""
    live_people = {
        p["person_id"] for p in cdp.people if not p["is_deleted"] and p["merged_into"] is None
    }
    wins: dict[str, set[str]] = {}
    for deal in cdp.deals:
        won_before = deal["won_time"] is None or deal["won_time"] < as_of
        if deal["status"] == "won" and not deal["is_deleted"] and won_before:
            wins.setdefault(deal["person_id"], set()).add(deal["deal_id"])
    return {
        person_id: len(deals)
        for person_id, deals in wins.items()
        if person_id in live_people and len(deals) >= min_won_deals
    }


def reference_members(cdp: Cdp, as_of: dt.datetime) -> set[tuple[str, str]]:
    """Every (audience, member_id) at as_of."""
    return (
        {("engaged_deals", deal) for deal in reference_engaged_deals(cdp, as_of)}
        | {("slipping_subscribers", p) for p in reference_slipping_subscribers(cdp, as_of)}
        | {("repeat_customers", p) for p in reference_repeat_customers(cdp, as_of)}
    )


def reference_stints(builds: list[tuple[dt.datetime, set[tuple[str, str]]]]) -> set[tuple]:
    """(audience, member_id, stint_number, entered_at, exited_at) after a series of builds."""
    stints: list[list[Any]] = []
    for as_of, members in builds:
        open_stints = {(s[0], s[1]): s for s in stints if s[4] is None}
        for key, stint in open_stints.items():
            if key not in members:
                stint[4] = as_of
        for audience, member_id in members - open_stints.keys():
            number = 1 + sum(1 for s in stints if (s[0], s[1]) == (audience, member_id))
            stints.append([audience, member_id, number, as_of, None])
    return {tuple(stint) for stint in stints}
