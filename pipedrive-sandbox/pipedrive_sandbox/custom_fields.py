"""Custom fields: their definitions per entity, and the values records carry for them.

Custom field keys are 40-character hashes derived from the seed, like Pipedrive's random keys.
Every common user-creatable type is present on persons, organizations and deals. Two person
fields share the human name "Region" (Pipedrive does not make names unique), and the
"Lead source"/"Deal source" enums each have a deleted option that some old records still hold.

Values are stored the way API v2 returns them inside ``custom_fields`` (enum: option id, set:
list of option ids, monetary: ``{value, currency}``, ...).
"""

# The literals in this module are the generated data's distributions (shares, rates).
# ruff: noqa: PLR2004

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.prng import Draws, hex_key

DAY = timefmt.SECONDS_PER_DAY

# (name, field_type, options, deleted options)
_Spec = tuple[str, str, tuple[str, ...], tuple[str, ...]]
_SPECS: dict[str, tuple[_Spec, ...]] = {
    "persons": (
        (
            "Lead source",
            "enum",
            ("Website", "Referral", "Event", "Cold outreach", "Partner"),
            ("Trade show 2019",),
        ),
        ("Interests", "set", ("Product updates", "Webinars", "Case studies", "Pricing"), ()),
        ("Region", "varchar", (), ()),
        ("Region", "enum", ("EMEA", "AMER", "APAC"), ()),
        ("Birthday", "date", (), ()),
        ("Lifetime value", "monetary", (), ()),
        ("NPS score", "double", (), ()),
        ("Account manager", "user", (), ()),
        ("Referred by", "people", (), ()),
        ("Secondary phone", "phone", (), ()),
        ("Home address", "address", (), ()),
        ("Bio", "text", (), ()),
        ("Preferred call time", "time", (), ()),
        ("Contract period", "daterange", (), ()),
    ),
    "organizations": (
        ("Segment", "enum", ("SMB", "Mid-market", "Enterprise", "Public sector"), ()),
        ("Tech stack", "set", ("Salesforce", "HubSpot", "SAP", "Excel", "Custom"), ()),
        ("VAT number", "varchar", (), ()),
        ("Annual budget", "monetary", (), ()),
        ("Employees (estimate)", "double", (), ()),
        ("Parent company", "org", (), ()),
        ("Key contact", "people", (), ()),
        ("Founded", "date", (), ()),
        ("Billing address", "address", (), ()),
        ("Account notes", "text", (), ()),
        ("Support hours", "timerange", (), ()),
        ("Switchboard", "phone", (), ()),
    ),
    "deals": (
        ("Deal source", "enum", ("Inbound", "Outbound", "Partner", "Upsell"), ("Legacy import",)),
        ("Products of interest", "set", ("Core", "Analytics", "Integrations", "Support plus"), ()),
        ("Competitor", "varchar", (), ()),
        ("Budget", "monetary", (), ()),
        ("Discount %", "double", (), ()),
        ("Decision date", "date", (), ()),
        ("Contract term", "daterange", (), ()),
        ("Kickoff time", "time", (), ()),
        ("Delivery address", "address", (), ()),
        ("Technical contact", "people", (), ()),
        ("Partner organization", "org", (), ()),
        ("Sales engineer", "user", (), ()),
        ("Win notes", "text", (), ()),
        ("Hotline", "phone", (), ()),
    ),
}
ENTITIES = tuple(_SPECS)

_CITIES = (
    ("Tallinn", "Harju maakond", "Estonia", "EE", "10115"),
    ("Berlin", "Berlin", "Germany", "DE", "10117"),
    ("São Paulo", "São Paulo", "Brazil", "BR", "01310-100"),
    ("Kraków", "Małopolskie", "Poland", "PL", "31-001"),
    ("東京", "東京都", "Japan", "JP", "100-0001"),
    ("Austin", "Texas", "United States", "US", "78701"),
    ("Montréal", "Québec", "Canada", "CA", "H2Y 1C6"),
    ("Zürich", "Zürich", "Switzerland", "CH", "8001"),
)
_STREETS = ("Main Street", "Narva mnt", "Rua Augusta", "Hauptstraße", "Rue Sainte-Catherine")
_TIMEZONES = ((318, "Europe/London"), (379, "Europe/Tallinn"), (172, "America/Chicago"))
_CURRENCIES = ("EUR", "USD", "GBP")


@dataclass(frozen=True)
class CustomField:
    """One custom field definition of an entity."""

    entity: str
    key: str
    name: str
    field_type: str
    order: int
    add_time: int
    options: tuple[tuple[int, str], ...] = ()
    deleted_options: tuple[tuple[int, str], ...] = ()

    def label_of(self, option_id: int) -> str | None:
        """Label of an option id, including deleted options."""
        for oid, label in (*self.options, *self.deleted_options):
            if oid == option_id:
                return label
        return None


@dataclass
class ReferenceSpace:
    """What reference-typed values may point at: entity counts and user ids."""

    persons: int
    organizations: int
    user_ids: list[int] = field(default_factory=list)


def build_custom_fields(seed: int, anchor: int) -> dict[str, list[CustomField]]:
    """The custom field definitions of every entity, keys and option ids derived from the seed."""
    next_option = 11
    fields: dict[str, list[CustomField]] = {}
    for entity, specs in _SPECS.items():
        defs: list[CustomField] = []
        for order, (name, field_type, options, deleted) in enumerate(specs):
            live = tuple((next_option + i, label) for i, label in enumerate(options))
            next_option += len(options)
            gone = tuple((next_option + i, label) for i, label in enumerate(deleted))
            next_option += len(deleted)
            defs.append(
                CustomField(
                    entity=entity,
                    key=hex_key(seed, "custom-field", entity, order),
                    name=name,
                    field_type=field_type,
                    order=order,
                    add_time=anchor - (900 - order * 20) * DAY,
                    options=live,
                    deleted_options=gone,
                ),
            )
        fields[entity] = defs
    return fields


def random_address(rng: random.Random | Draws) -> dict[str, Any]:
    locality, area, country, _, postal = rng.choice(_CITIES)
    route = rng.choice(_STREETS)
    number = str(rng.randint(1, 240))
    formatted = f"{route} {number}, {postal} {locality}, {country}"
    return {
        "value": formatted,
        "country": country,
        "admin_area_level_1": area,
        "admin_area_level_2": None,
        "locality": locality,
        "sublocality": None,
        "route": route,
        "street_number": number,
        "subpremise": None,
        "postal_code": postal,
        "formatted_address": formatted,
    }


VARIANTS = 64  # pre-generated values per field
TEMPLATES = 4096  # pre-combined value sets per entity; a record picks one with 12 bits
TEMPLATE_BITS = 12
_FILL_THRESHOLD = int(0.6 * 1024)  # ~60% of a field's values are set
_DYNAMIC = ("date", "daterange", "people", "org", "user")  # depend on the record itself


@dataclass
class ValueTemplates:
    """Pre-combined custom field values of one entity.

    A record copies one of ``TEMPLATES`` dicts (a C-level copy) and fills in the few fields
    that depend on the record: dates near its add time and references. This keeps a record's
    custom fields at about a microsecond, which matters at 500 records per page.
    """

    templates: list[dict[str, Any]]
    dynamic: list[tuple[str, str]]  # (key, field type) of record-dependent fields


def build_templates(seed: int, entity: str, defs: list[CustomField]) -> ValueTemplates:
    """Combine per-field variants into ``TEMPLATES`` value sets (dynamic fields hold raw draws)."""
    variants = {}
    for cf in defs:
        field_rng = random.Random(f"{seed}:{cf.key}")  # noqa: S311 - reproducible data
        variants[cf.key] = [_variant(cf, field_rng, i) for i in range(VARIANTS)]
    rng = random.Random(f"{seed}:templates:{entity}")  # noqa: S311
    templates = []
    for _ in range(TEMPLATES):
        values: dict[str, Any] = {}
        for cf in defs:
            chunk = rng.getrandbits(16)
            filled = chunk & 0x3FF < _FILL_THRESHOLD
            raw = (
                chunk
                if cf.field_type in ("people", "org", "user")
                else variants[cf.key][chunk >> 10]
            )
            values[cf.key] = raw if filled else None
        templates.append(values)
    dynamic = [(cf.key, cf.field_type) for cf in defs if cf.field_type in _DYNAMIC]
    return ValueTemplates(templates, dynamic)


def _variant(cf: CustomField, rng: random.Random, index: int) -> Any:
    kind = cf.field_type
    value: Any = None  # reference fields (people, org, user) are drawn per record
    if kind == "enum":
        deleted = cf.deleted_options and index % 13 == 5
        value = cf.deleted_options[0][0] if deleted else rng.choice(cf.options)[0]
    elif kind == "set":
        value = sorted(rng.sample([oid for oid, _ in cf.options], rng.randint(1, 3)))
    elif kind in ("date", "daterange"):
        value = rng.randint(-200, 400)  # days relative to the record's add time
    elif kind in ("time", "timerange"):
        tz_id, tz_name = rng.choice(_TIMEZONES)
        start_s = rng.randrange(7 * 3600, 17 * 3600, 900)
        value = {"value": timefmt.clock(start_s)}
        if kind == "timerange":
            value["until"] = timefmt.clock(start_s + rng.randrange(3600, 6 * 3600, 1800))
        value |= {"timezone_id": tz_id, "timezone_name": tz_name}
    elif kind not in ("people", "org", "user"):
        value = _SCALARS[kind](cf.name, rng)
    return value


def generate_values(
    value_templates: ValueTemplates, index: int, refs: ReferenceSpace, around: int
) -> dict[str, Any]:
    """All custom field values of one record, keyed by field key (unset fields are ``None``).

    ``index`` picks the template (``TEMPLATE_BITS`` random bits of the record); ``around`` is
    the record's add time, near which its dates fall.
    """
    values = value_templates.templates[index].copy()
    for key, kind in value_templates.dynamic:
        raw = values[key]
        if raw is None:
            continue
        if kind == "date":
            values[key] = timefmt.day(around + raw * DAY)
        elif kind == "daterange":
            start = around + raw * DAY
            values[key] = {"value": timefmt.day(start), "until": timefmt.day(start + 90 * DAY)}
        else:
            values[key] = _reference(kind, raw * 2654435761 + around, refs)
    return values


def _reference(kind: str, draw: int, refs: ReferenceSpace) -> int | None:
    if kind == "user":
        return refs.user_ids[draw % len(refs.user_ids)] if refs.user_ids else None
    upper = refs.persons if kind == "people" else refs.organizations
    return 1 + draw % upper if upper else None


_TEXTS = (
    "Met at the Tallinn meetup.\nPrefers email over calls.",
    "Budget holder; wants quarterly reviews. Speaks français & deutsch.",
    "Long-time customer — renewal handled by finance.",
    "",
)


def _varchar(name: str, rng: random.Random) -> str:
    if name == "Region":
        return rng.choice(("Baltics", "DACH", "Nordics", "Iberia", "Île-de-France", "関東"))
    if name == "VAT number":
        return f"EE{rng.randint(100000000, 999999999)}"
    return rng.choice(("Acme CRM", "Globex", "Initech", "none yet", "Umbrella", "—"))


def _double(name: str, rng: random.Random) -> float:
    return round(rng.uniform(-10, 100), 2) if "NPS" in name else round(rng.uniform(0, 5000), 1)


def _monetary(_name: str, rng: random.Random) -> dict[str, Any]:
    return {"value": round(rng.uniform(500, 250_000), 2), "currency": rng.choice(_CURRENCIES)}


def _phone(_name: str, rng: random.Random) -> str:
    return f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


# Scalar value makers by field type; each takes (field name, generator).
_SCALARS: dict[str, Callable[[str, random.Random], Any]] = {
    "varchar": _varchar,
    "text": lambda _name, rng: rng.choice(_TEXTS),
    "double": _double,
    "monetary": _monetary,
    "phone": _phone,
    "address": lambda _name, rng: random_address(rng),
}


def render_with_labels(defs: list[CustomField], values: dict[str, Any]) -> dict[str, Any]:
    """``include_option_labels=true``: enum/set ids become ``{id, label}`` objects."""
    out = dict(values)
    for cf in defs:
        value = values.get(cf.key)
        if value is None:
            continue
        if cf.field_type == "enum":
            out[cf.key] = {"id": value, "label": cf.label_of(value)}
        elif cf.field_type == "set":
            out[cf.key] = [{"id": v, "label": cf.label_of(v)} for v in value]
    return out
