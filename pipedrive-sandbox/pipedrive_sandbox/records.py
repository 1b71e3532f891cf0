"""Seeded records: each one rebuilt on demand from its columns plus a per-record generator.

Records come out in API v2 shape (notes, which exist only in API v1, in v1 shape without their
related objects). Fields that API v2 returns only on request (``include_fields``) are included
here and removed by the API layer unless asked for.
"""

# The literals in this module are the generated data's distributions (shares, rates).
# ruff: noqa: PLR2004

from __future__ import annotations

import re
from typing import Any

import numpy as np

from pipedrive_sandbox import names, timefmt
from pipedrive_sandbox.catalog import ACTIVITY_TYPE_KEYS, Catalog
from pipedrive_sandbox.columns import STATUSES, Columns
from pipedrive_sandbox.custom_fields import (
    TEMPLATE_BITS,
    CustomField,
    ReferenceSpace,
    build_templates,
    generate_values,
    random_address,
)
from pipedrive_sandbox.prng import Draws, mix, record_draws, uuid_key

DAY = timefmt.SECONDS_PER_DAY
MARKETING_STATUSES = ("subscribed", "no_consent", "unsubscribed", "archived")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def converted_lead_id(seed: int, deal_id: int) -> str | None:
    """The lead a seeded deal was converted from (one deal in eight), or ``None``.

    Converting deletes the lead, so no lead list shows it (``leads.py``).
    """
    if mix(seed, "deal-from-lead", deal_id) % 8:
        return None
    return uuid_key(seed, "lead", f"converted-into-deal-{deal_id}")


def _t(ts: int) -> str | None:
    return timefmt.v2(ts) if ts else None


class RecordFactory:
    """Rebuilds any seeded record from (seed, kind, id) and the seeded columns."""

    def __init__(
        self,
        seed: int,
        anchor: int,
        catalog: Catalog,
        custom_fields: dict[str, list[CustomField]],
        columns: dict[str, Columns],
        *,
        marketing_app: bool = True,
    ) -> None:
        self.seed = seed
        self.marketing_app = marketing_app
        self.anchor = anchor
        self.catalog = catalog
        self.custom_fields = custom_fields
        self.columns = columns
        self.refs = ReferenceSpace(
            persons=columns["persons"].size,
            organizations=columns["organizations"].size,
            user_ids=catalog.user_ids,
        )
        self.templates = {
            kind: build_templates(seed, kind, defs) for kind, defs in custom_fields.items()
        }
        self._org_names: dict[int, str] = {}
        self._org_domains: dict[int, str] = {}
        enabled = {p["id"] for p in catalog.pipelines if p["is_deal_probability_enabled"]}
        # stage id -> the deal probability a deal in it shows (None: pipeline without them)
        self._probabilities = {
            s["id"]: s["deal_probability"] if s["pipeline_id"] in enabled else None
            for s in catalog.stages
        }
        self.builders = {
            "persons": self.person,
            "organizations": self.organization,
            "deals": self.deal,
            "activities": self.activity,
            "notes": self.note,
        }

    def build(self, kind: str, record_id: int) -> dict[str, Any]:
        """The seeded record ``record_id`` of ``kind``."""
        return self.builders[kind](record_id, self._col(kind, record_id))

    def build_many(self, kind: str, ids: list[int]) -> list[dict[str, Any]]:
        """Seeded records for a page of ids (columns fetched once for the whole page)."""
        arrays = self.columns[kind].arrays
        rows = np.asarray(ids, np.int64) - 1
        names = list(arrays)
        columns = [arrays[name][rows].tolist() for name in names]
        builder = self.builders[kind]
        return [
            builder(record_id, dict(zip(names, values, strict=True)))
            for record_id, values in zip(ids, zip(*columns, strict=True), strict=True)
        ]

    def _col(self, kind: str, record_id: int) -> dict[str, int]:
        row = record_id - 1
        return {name: array.item(row) for name, array in self.columns[kind].arrays.items()}

    def _custom(self, kind: str, rng: Draws, around: int) -> dict[str, Any]:
        index = rng.getrandbits(TEMPLATE_BITS)
        return generate_values(self.templates[kind], index, self.refs, around)

    # --- names (cheap; used for notes' related objects and duplicates) -----------------------

    def person_identity(self, person_id: int) -> tuple[str, str | None, str, str]:
        """(first name, last name or None, ascii first, ascii last) of a seeded person."""
        draw = mix(self.seed, "person-name", person_id)
        if draw % 100 == 0:
            first = names.FIRST_ONLY[(draw >> 8) % len(names.FIRST_ONLY)]
            return first, None, first.lower().replace("ö", "o"), ""
        return names.PEOPLE[(draw >> 8) % len(names.PEOPLE)]

    def organization_name(self, org_id: int) -> str:
        """Name of a seeded organization."""
        cached = self._org_names.get(org_id)
        if cached is None:
            draw = mix(self.seed, "organization-name", org_id)
            stem = names.COMPANY_STEMS[draw % len(names.COMPANY_STEMS)]
            suffix = names.COMPANY_SUFFIXES[(draw >> 16) % len(names.COMPANY_SUFFIXES)]
            number = "" if org_id <= len(names.COMPANY_STEMS) * 4 else f" {org_id}"
            cached = self._org_names[org_id] = f"{stem} {suffix}".strip() + number
        return cached

    def organization_domain(self, org_id: int) -> str:
        """Web domain of a seeded organization (ascii, derived from its name)."""
        cached = self._org_domains.get(org_id)
        if cached is None:
            slug = _NON_WORD.sub("", self.organization_name(org_id).lower()) or f"org{org_id}"
            cached = self._org_domains[org_id] = f"{slug}.example"
        return cached

    def deal_title(self, deal_id: int) -> str:
        """Title of a seeded deal."""
        word = names.DEAL_WORDS[mix(self.seed, "deal-title", deal_id) % len(names.DEAL_WORDS)]
        org = self.columns["deals"]["org"].item(deal_id - 1)
        who = self.organization_name(org) if org else "Private buyer"
        return f"{who} — {word} #{deal_id}"

    # --- kinds --------------------------------------------------------------------------------

    def person(self, person_id: int, c: dict[str, int]) -> dict[str, Any]:
        """A seeded person."""
        rng = record_draws(self.seed, "persons", person_id)
        source_id = person_id
        if person_id > 10 and rng.random() < 0.01:
            source_id = person_id - rng.randint(1, 10)  # entered twice: a duplicate person
        first, last, a_first, a_last = self.person_identity(source_id)
        emails = self._emails(rng, c["org"], a_first, a_last, source_id)
        has_email = any(e["value"] for e in emails)
        status = (
            MARKETING_STATUSES[min(3, int(rng.random() ** 1.5 * 4))] if has_email else "no_consent"
        )
        person = {
            "id": person_id,
            "name": f"{first} {last}" if last else first,
            "first_name": first,
            "last_name": last,
            "owner_id": c["owner"],
            "org_id": c["org"] or None,
            "add_time": timefmt.v2(c["add"]),
            "update_time": timefmt.v2(c["upd"]),
            "emails": emails,
            "phones": self._phones(rng),
            "is_deleted": bool(c["deleted"]),
            "visible_to": 3 if rng.random() < 0.9 else 1,
            "label_ids": sorted(rng.sample((1, 2, 3, 4), rng.choice((0, 0, 1, 2)))),
            "picture_id": rng.randint(1, 9999) if rng.random() < 0.15 else None,
            "custom_fields": self._custom("persons", rng, c["add"]),
            "marketing_status": status,
            "doi_status": "confirmed" if status == "subscribed" and rng.random() < 0.5 else None,
        }
        if not self.marketing_app:  # drawn all the same: the other fields stay seed-identical
            del person["marketing_status"], person["doi_status"]
        return person

    def _emails(
        self, rng: Draws, org_id: int, first: str, last: str, source_id: int
    ) -> list[dict[str, Any]]:
        count = rng.weighted((0, 1, 2, 3), (12, 58, 22, 8))
        local = f"{first}.{last}" if last else first
        domains = [self.organization_domain(org_id)] if org_id else []
        domains += [names.FREE_MAIL[source_id % len(names.FREE_MAIL)], "mail.example"]
        labels = ("work", "home", "other")
        return [
            {"value": f"{local}@{domains[i]}", "primary": i == 0, "label": labels[i]}
            for i in range(min(count, len(domains)))
        ]

    def _phones(self, rng: Draws) -> list[dict[str, Any]]:
        count = rng.weighted((0, 1, 2, 3), (25, 50, 20, 5))
        labels = rng.sample(("work", "home", "mobile", "other"), count)
        return [
            {
                "value": f"+{rng.choice((1, 44, 49, 372, 81))} {rng.randint(200, 999)} "
                f"{rng.randint(1000, 9999)}",
                "primary": i == 0,
                "label": labels[i],
            }
            for i in range(count)
        ]

    def organization(self, org_id: int, c: dict[str, int]) -> dict[str, Any]:
        """A seeded organization."""
        rng = record_draws(self.seed, "organizations", org_id)
        address = self._org_address(rng)
        return {
            "id": org_id,
            "name": self.organization_name(org_id),
            "owner_id": c["owner"],
            "add_time": timefmt.v2(c["add"]),
            "update_time": timefmt.v2(c["upd"]),
            "is_deleted": bool(c["deleted"]),
            "visible_to": 3,
            "address": address,
            "label_ids": sorted(rng.sample((5, 6, 7), rng.choice((0, 1)))),
            "website": f"https://www.{self.organization_domain(org_id)}"
            if rng.random() < 0.7
            else None,
            "linkedin": None,
            "industry": rng.choice(names.INDUSTRIES) if rng.random() < 0.5 else None,
            "annual_revenue": rng.randrange(0, 50_000_000, 1000) if rng.random() < 0.4 else None,
            "employee_count": rng.randint(1, 5000) if rng.random() < 0.5 else None,
            "custom_fields": self._custom("organizations", rng, c["add"]),
        }

    @staticmethod
    def _org_address(rng: Draws) -> dict[str, Any] | None:
        if rng.random() < 0.3:
            return None
        address = random_address(rng)
        address.pop("formatted_address")
        return address

    def deal(self, deal_id: int, c: dict[str, int]) -> dict[str, Any]:
        """A seeded deal; times and status follow its columns."""
        rng = record_draws(self.seed, "deals", deal_id)
        closed_as = STATUSES[c["status"]]
        won = c["close"] if closed_as == "won" else 0
        lost = c["close"] if closed_as == "lost" else 0
        # A deleted deal reports status "deleted" (the value the status filter matches on).
        status = "deleted" if c["deleted"] else closed_as
        probability = self._probabilities.get(c["stage"])
        return {
            "id": deal_id,
            "title": self.deal_title(deal_id),
            "creator_user_id": c["owner"],
            "owner_id": c["owner"],
            "person_id": c["person"] or None,
            "org_id": c["org"] or None,
            "pipeline_id": c["pipeline"],
            "stage_id": c["stage"],
            "value": float(rng.randrange(0, 120_000, 50)),
            "currency": rng.choice(("EUR", "EUR", "USD", "GBP")),
            "add_time": timefmt.v2(c["add"]),
            "update_time": timefmt.v2(c["upd"]),
            "stage_change_time": _t(c["stage_change"]),
            "is_deleted": bool(c["deleted"]),
            "is_archived": bool(c["archived"]),
            "archive_time": _t(c["archive"]),
            "status": status,
            "probability": probability,
            "lost_reason": rng.choice(names.LOST_REASONS) if lost else None,
            "visible_to": 3,
            "close_time": _t(c["close"]),
            "won_time": _t(won),
            "lost_time": _t(lost),
            "local_won_date": timefmt.day(won) if won else None,
            "local_lost_date": timefmt.day(lost) if lost else None,
            "local_close_date": timefmt.day(c["close"]) if c["close"] else None,
            "expected_close_date": timefmt.day(c["add"] + rng.randint(14, 120) * DAY)
            if rng.random() < 0.7
            else None,
            "label_ids": [],
            "origin": rng.choice(("ManuallyCreated", "ManuallyCreated", "API", "Import")),
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_lead_id": converted_lead_id(self.seed, deal_id),
            "arr": None,
            "mrr": None,
            "acv": None,
            "custom_fields": self._custom("deals", rng, c["add"]),
        }

    def activity(self, activity_id: int, c: dict[str, int]) -> dict[str, Any]:
        """A seeded activity."""
        rng = record_draws(self.seed, "activities", activity_id)
        key = ACTIVITY_TYPE_KEYS[c["type"]]
        meeting = key in ("meeting", "product_demo")
        duration = rng.choice(("00:30:00", "01:00:00", "00:15:00")) if c["has_time"] else None
        participants = [{"person_id": c["person"], "primary": True}] if c["person"] else []
        location = None
        if meeting and rng.random() < 0.5:
            location = random_address(rng)
            location.pop("formatted_address")
        video = meeting and location is None
        return {
            "id": activity_id,
            "subject": rng.choice(names.ACTIVITY_SUBJECTS[key]),
            "type": key,
            "owner_id": c["owner"],
            "creator_user_id": c["owner"],
            "is_deleted": bool(c["deleted"]),
            "add_time": timefmt.v2(c["add"]),
            "update_time": timefmt.v2(c["upd"]),
            "deal_id": c["deal"] or None,
            "lead_id": None,
            "person_id": c["person"] or None,
            "org_id": c["org"] or None,
            "project_id": None,
            "due_date": timefmt.day(c["due"]),
            "due_time": timefmt.clock(c["due"] % DAY)[:5] + ":00" if c["has_time"] else None,
            "duration": duration,
            "busy": meeting,
            "done": bool(c["done"]),
            "marked_as_done_time": _t(c["done_time"]),
            "location": location,
            "participants": participants,
            "attendees": [],
            "conference_meeting_client": "google_meet" if video else None,
            "conference_meeting_url": f"https://meet.example/{activity_id:x}" if video else None,
            "conference_meeting_id": f"{activity_id:x}" if video else None,
            "public_description": None,
            "priority": None,
            "note": "<p>Agenda attached.</p>" if rng.random() < 0.2 else None,
        }

    def note(self, note_id: int, c: dict[str, int]) -> dict[str, Any]:
        """A seeded note (API v1 shape, without related objects)."""
        rng = record_draws(self.seed, "notes", note_id)
        return {
            "id": note_id,
            "active_flag": not c["deleted"],
            "add_time": timefmt.v1(c["add"]),
            "update_time": timefmt.v1(c["upd"]),
            "content": rng.choice(names.NOTE_SNIPPETS),
            "user_id": c["owner"],
            "last_update_user_id": c["owner"],
            "deal_id": c["deal"] or None,
            "person_id": c["person"] or None,
            "org_id": c["org"] or None,
            "lead_id": None,
            "project_id": None,
            "task_id": None,
            "pinned_to_lead_flag": False,
            "pinned_to_deal_flag": bool(c["pinned"] & 1),
            "pinned_to_organization_flag": bool(c["pinned"] & 2),
            "pinned_to_person_flag": bool(c["pinned"] & 4),
            "pinned_to_project_flag": False,
            "pinned_to_task_flag": False,
        }
