"""The account's leads: seeded, changed through the v1 lead endpoints, converted into deals.

Leads differ from the other kinds enough to live apart from ``store.py``'s numpy columns: their
ids are UUID strings (spec v1 ``Lead.id``, ``format: uuid``), a deleted lead is gone (``DELETE
/v1/leads/{id}`` answers only its id; no list or read shows it again), and an account holds
few of them (a twenty-fifth of ``--scale``, on top of the core records, so every other kind's
data stays what it was). They are plain dicts in creation order, built on first use.

Leads carry no custom fields of their own: "leads inherit the custom fields' structure from
deals" (spec v1 ``GET /leads``), so a lead's values use the deal field definitions and render
like v1 deal fields, top-level hash keys, leaving out the fields that have no value.

A converted lead (spec v2 ``POST /leads/{id}/convert/deal``: "If the conversion is successful,
the lead is marked as deleted") leaves the lists; the deal it became carries its id in
``source_lead_id``. One seeded deal in eight came from a lead converted before it was created
(``records.converted_lead_id``): those deals name a lead no list shows any more, as in Pipedrive.
"""

# The literals in this module are the generated data's distributions (shares, rates).
# ruff: noqa: PLR2004

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.catalog import COMPANY_DOMAIN, COMPANY_ID
from pipedrive_sandbox.custom_fields import TEMPLATE_BITS, generate_values
from pipedrive_sandbox.prng import record_draws, uuid_key
from pipedrive_sandbox.v1_shapes import custom_v1

if TYPE_CHECKING:
    from pipedrive_sandbox.store import Store

DAY = timefmt.SECONDS_PER_DAY
LEADS_PER_SCALE = 25  # one seeded lead per 25 core records
HISTORY_SECONDS = 365 * DAY
# (source_name, origin): spec v1 tag "LeadSources" lists the sources.
SOURCES = (
    ("Manually created", "ManuallyCreated"),
    ("Web forms", "WebForms"),
    ("Import", "Import"),
    ("Leadbooster", "LeadBooster"),
    ("Live chat", "LiveChat"),
)
# The fields of a lead in the spec's order (v1 ``GetLeadsResponse``); custom field keys follow.
FIELDS = (
    "id",
    "title",
    "owner_id",
    "creator_id",
    "label_ids",
    "person_id",
    "organization_id",
    "source_name",
    "origin",
    "origin_id",
    "channel",
    "channel_id",
    "source_deal_id",
    "is_archived",
    "was_seen",
    "value",
    "expected_close_date",
    "next_activity_id",
    "add_time",
    "update_time",
    "visible_to",
    "cc_email",
)


def label_ids(seed: int) -> list[str]:
    """The account's three default lead labels (hot, warm, cold; spec tag "LeadLabels")."""
    return [uuid_key(seed, "lead-label", name) for name in ("hot", "warm", "cold")]


def render(lead: dict[str, Any], defs: list[Any]) -> dict[str, Any]:
    """A stored lead as API v1 answers it: custom fields with a value as top-level keys."""
    out = {name: copy.deepcopy(lead[name]) for name in FIELDS}
    custom = custom_v1(defs, lead["custom_fields"])
    out |= {
        key: value
        for key, value in custom.items()
        if value is not None and lead["custom_fields"].get(key.split("_")[0]) is not None
    }
    return out


class LeadBook:
    """Every lead of one account, in creation order; guarded by the store's lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._leads: dict[str, dict[str, Any]] | None = None
        self.version = 0
        self.created = 0
        # conversion id -> (lead id, deal id), for the conversion status endpoint
        self.conversions: dict[str, tuple[str, int]] = {}

    @property
    def leads(self) -> dict[str, dict[str, Any]]:
        """Live leads by id (archived ones included), oldest first; seeded on first use."""
        if self._leads is None:
            count = max(1, self.store.scale // LEADS_PER_SCALE)
            self._leads = {lead["id"]: lead for lead in map(self._seeded, range(1, count + 1))}
        return self._leads

    def get(self, lead_id: str) -> dict[str, Any] | None:
        """A live lead (shared: callers must not mutate it), or ``None``."""
        return self.leads.get(lead_id)

    def render(self, lead: dict[str, Any]) -> dict[str, Any]:
        """A lead in API v1 shape."""
        return render(lead, self.store.custom_fields["deals"])

    def dataset(self) -> list[dict[str, Any]]:
        """Every live lead in API v1 shape, oldest first (what tests compare against)."""
        return [self.render(lead) for lead in self.leads.values()]

    # --- writing --------------------------------------------------------------------------------

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A lead created through the API: source and origin ``API`` (spec v1 ``POST /leads``)."""
        self.created += 1
        now = self.store.clock.now()
        lead_id = uuid_key(self.store.seed, "lead", f"created-{self.created}")
        lead = {
            "id": lead_id,
            "title": "",
            "owner_id": 1,
            "creator_id": 1,
            "label_ids": [],
            "person_id": None,
            "organization_id": None,
            "source_name": "API",
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_deal_id": None,
            "is_archived": False,
            "was_seen": False,
            "value": None,
            "expected_close_date": None,
            "next_activity_id": None,
            "add_time": timefmt.v2(now),
            "update_time": timefmt.v2(now),
            "visible_to": "3",
            "cc_email": _cc_email(lead_id),
            "custom_fields": {},
        }
        _apply(lead, fields)
        self.leads[lead_id] = lead
        self.version += 1
        return lead

    def update(self, lead_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Apply changes to a live lead; ``update_time`` moves if anything changed."""
        lead = self.leads[lead_id]
        before = copy.deepcopy(lead)
        _apply(lead, fields)
        if lead != before:
            lead["update_time"] = timefmt.v2(self.store.clock.now())
            self.version += 1
        return lead

    def delete(self, lead_id: str) -> None:
        """Remove a lead: deleted (or converted) leads are gone from every answer."""
        del self.leads[lead_id]
        self.version += 1

    # --- seeding --------------------------------------------------------------------------------

    def _seeded(self, number: int) -> dict[str, Any]:
        store = self.store
        count = max(1, store.scale // LEADS_PER_SCALE)
        rng = record_draws(store.seed, "leads", number)
        fraction = (number - 0.5) / count
        add = int(store.anchor - 900 - HISTORY_SECONDS * (1 - fraction**0.6))
        age = max(0, store.anchor - 60 - add)
        update = add + (0 if rng.random() < 0.4 else int(age * rng.random() ** 3))
        persons = store.columns["persons"]
        person = rng.randint(1, persons.size) if rng.random() < 0.8 else None
        org = int(persons["org"][person - 1]) if person else 0
        if not org and (person is None or rng.random() < 0.3):
            org = rng.randint(1, store.columns["organizations"].size)
        who = store.person_name(person) if person else store.organization_name(org)
        source_name, origin = rng.choice(SOURCES)
        users = store.catalog.user_ids[:4] or [1]
        owner = rng.choice(users)
        lead_id = uuid_key(store.seed, "lead", number)
        valued = rng.random() < 0.6
        amount = float(rng.randrange(500, 60_000, 250))
        currency = rng.choice(("EUR", "EUR", "USD", "GBP"))
        factory = store.factory
        custom = generate_values(
            factory.templates["deals"], rng.getrandbits(TEMPLATE_BITS), factory.refs, add
        )
        return {
            "id": lead_id,
            "title": f"{who} lead",
            "owner_id": owner,
            "creator_id": owner,
            "label_ids": sorted(rng.sample(label_ids(store.seed), rng.choice((0, 0, 1, 2)))),
            "person_id": person,
            "organization_id": org or None,
            "source_name": source_name,
            "origin": origin,
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_deal_id": None,
            "is_archived": rng.random() < 0.15 or (count >= 4 and number == count // 2),
            "was_seen": rng.random() < 0.7,
            "value": {"amount": amount, "currency": currency} if valued else None,
            "expected_close_date": timefmt.day(add + rng.randint(14, 120) * DAY)
            if rng.random() < 0.4
            else None,
            "next_activity_id": None,
            "add_time": timefmt.v2(add),
            "update_time": timefmt.v2(update),
            "visible_to": "3",
            "cc_email": _cc_email(lead_id),
            "custom_fields": custom,
        }


def _cc_email(lead_id: str) -> str:
    return f"{COMPANY_DOMAIN}+{COMPANY_ID}+lead{lead_id.replace('-', '')[:22]}@pipedrivemail.com"


def _apply(lead: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name == "custom_fields":
            lead["custom_fields"].update(value)
        else:
            lead[name] = copy.deepcopy(value)
