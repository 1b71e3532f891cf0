"""Small account-level catalogs: users, pipelines, stages and activity types.

They are tiny (tens of rows), so they are built eagerly from (seed, scale, anchor) and then
changed only through the control API.
"""

# The literals in this module are the generated data's distributions (shares, rates).
# ruff: noqa: PLR2004

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.prng import record_rng

DAY = timefmt.SECONDS_PER_DAY
COMPANY_ID = 7_700_123
COMPANY_DOMAIN = "sandbox-company"

_USER_NAMES = (
    "Mari Tamm",
    "Jonas Müller",
    "Aiko Tanaka",
    "Sofia Álvarez",
    "Liam O'Connor",
    "Chloé Dubois",
    "Wei Zhang",
    "Priya Nair",
    "Oskar Nowak",
    "Fatima Zahra",
    "Eero Mäkinen",
    "Ana Ribeiro",
)
_PIPELINES = (
    (
        "Sales",
        ("Lead in", "Qualified", "Demo scheduled", "Proposal made", "Negotiation", "Closing"),
    ),
    ("Partnerships", ("Identified", "Contacted", "Evaluating", "Contract sent")),
    ("Renewals", ("Upcoming", "In discussion", "Quote sent", "Verbal yes", "Signed")),
)
# Rows: key_string, name, icon_key, is_custom_flag, active_flag.
_ACTIVITY_TYPES = (
    ("call", "Call", "call", False, True),
    ("meeting", "Meeting", "meeting", False, True),
    ("task", "Task", "task", False, True),
    ("deadline", "Deadline", "deadline", False, True),
    ("email", "Email", "email", False, True),
    ("lunch", "Lunch", "lunch", False, False),
    ("product_demo", "Product demo", "presentation", True, True),
)
# Activity type keys in column order; seeded activities use the first six (not the inactive
# "lunch" type).
ACTIVITY_TYPE_KEYS = ("call", "meeting", "task", "deadline", "email", "product_demo", "lunch")
SEEDED_ACTIVITY_TYPES = 6


@dataclass
class Catalog:
    """Users, pipelines, stages and activity types of the sandbox account."""

    users: list[dict[str, Any]] = field(default_factory=list)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    activity_types: list[dict[str, Any]] = field(default_factory=list)

    @property
    def user_ids(self) -> list[int]:
        """Ids of active users (the ones records are assigned to)."""
        return [u["id"] for u in self.users if u["active_flag"]]

    def stages_of(self, pipeline_id: int) -> list[dict[str, Any]]:
        """Stages of one pipeline, in pipeline order."""
        return [s for s in self.stages if s["pipeline_id"] == pipeline_id]

    def user(self, user_id: int) -> dict[str, Any] | None:
        """One user by id."""
        return next((u for u in self.users if u["id"] == user_id), None)


def user_count(scale: int) -> int:
    """Five users for a small account (one invited, one departed), a dozen for a large one."""
    return min(len(_USER_NAMES), 5 + scale // 50_000)


def build_catalog(seed: int, scale: int, anchor: int) -> Catalog:
    """Build the account catalogs; everything is dated well before ``anchor``."""
    rng = record_rng(seed, "catalog", 0)
    founded = anchor - 4 * 365 * DAY
    catalog = Catalog()
    n_users = user_count(scale)
    for index in range(n_users):
        catalog.users.append(_user(index + 1, n_users, founded, anchor, rng.random()))
    pipeline_count = 2 + (seed % 2)
    stage_id = 1
    for index in range(pipeline_count):
        name, stage_names = _PIPELINES[index]
        created = founded + index * 90 * DAY
        catalog.pipelines.append(
            {
                "id": index + 1,
                "name": name,
                "order_nr": index + 1,
                "is_deleted": False,
                "is_deal_probability_enabled": index == 0,
                "add_time": timefmt.v2(created),
                "update_time": timefmt.v2(created + int(rng.random() * 200) * DAY),
            },
        )
        for order, stage_name in enumerate(stage_names, start=1):
            catalog.stages.append(
                {
                    "id": stage_id,
                    "order_nr": order,
                    "name": stage_name,
                    "is_deleted": False,
                    "deal_probability": min(100, order * 100 // len(stage_names)),
                    "pipeline_id": index + 1,
                    "is_deal_rot_enabled": order < len(stage_names) and rng.random() < 0.5,
                    "days_to_rotten": None if order == len(stage_names) else 7 * order,
                    "add_time": timefmt.v2(created + order * 60),
                    "update_time": timefmt.v2(created + order * 60 + int(rng.random() * 90) * DAY),
                },
            )
            stage_id += 1
    for index, (key, name, icon, custom, active) in enumerate(_ACTIVITY_TYPES, start=1):
        created = founded if not custom else founded + 400 * DAY
        catalog.activity_types.append(
            {
                "id": index,
                "name": name,
                "icon_key": icon,
                "color": "FFFFFF" if not custom else "8E44AD",
                "order_nr": index,
                "key_string": key,
                "active_flag": active,
                "is_custom_flag": custom,
                "add_time": timefmt.v1(created),
                "update_time": timefmt.v1(created + (30 * DAY if not active else 0)),
            },
        )
    return catalog


def _user(user_id: int, n_users: int, founded: int, anchor: int, draw: float) -> dict[str, Any]:
    name = _USER_NAMES[user_id - 1]
    first, _, last = name.partition(" ")
    ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
    slug = ascii_name.decode().lower().replace("'", "")
    created = founded + (user_id - 1) * 45 * DAY
    # The last user of a larger team is an invited user who never logged in (MySQL zero date, as
    # Pipedrive v1 returns for never-set datetimes), the one before it has left the company.
    invited = n_users >= 4 and user_id == n_users
    departed = n_users >= 5 and user_id == n_users - 1
    last_login = "0000-00-00 00:00:00" if invited else timefmt.v1(anchor - int(draw * 3 * DAY))
    return {
        "id": user_id,
        "name": name,
        "default_currency": "EUR" if user_id % 3 else "USD",
        "locale": "en_US",
        "lang": 1,
        "email": f"{slug}@sandbox-company.example",
        "phone": None if user_id % 2 else f"+372 5{user_id:03d} {user_id * 37 % 1000:04d}",
        "activated": not invited,
        "last_login": last_login,
        "created": timefmt.v1(created),
        "modified": None if invited else timefmt.v1(created + 30 * DAY),
        "has_created_company": user_id == 1,
        "access": [
            {
                "app": "sales",
                "admin": user_id == 1,
                "permission_set_id": f"00000000-0000-4000-8000-{user_id:012d}",
            },
        ],
        "active_flag": not departed,
        "timezone_name": "Europe/Tallinn",
        "timezone_offset": "+02:00",
        "role_id": 1,
        "icon_url": None if user_id % 2 == 0 else f"https://sandbox.example/avatars/{user_id}.png",
        "is_you": user_id == 1,
        "is_deleted": departed,
    }
