"""The Pipedrive objects actions write: endpoints, token costs and the fields of their bodies.

Taken from Pipedrive's OpenAPI specs (``spec/pipedrive-openapi/v{1,2}.yaml``): API v2 for
persons, organizations, deals and activities (``POST /api/v2/<kind>``, ``PATCH
/api/v2/<kind>/{id}``), v1 for notes (``POST /v1/notes``, ``PUT /v1/notes/{id}``), with each
operation's ``x-token-cost``. ``target-pipedrive/tests/test_writeback_config.py`` checks every
entry against the specs. Each body field has the JSON type a rendered template is converted to
(``person_id`` an integer, ``emails`` a list of ``{value, primary}``): a template renders text,
Pipedrive wants types.
"""

from __future__ import annotations

from dataclasses import dataclass

_PERSON = {
    "name": "string",
    "owner_id": "integer",
    "org_id": "integer",
    "emails": "contacts",
    "phones": "contacts",
    "visible_to": "integer",
    "label_ids": "integers",
    "birthday": "string",
    "job_title": "string",
    "marketing_status": "string",
}
_ORGANIZATION = {
    "name": "string",
    "owner_id": "integer",
    "visible_to": "integer",
    "label_ids": "integers",
    "website": "string",
    "linkedin": "string",
    "industry": "integer",
    "annual_revenue": "number",
    "employee_count": "integer",
}
_DEAL = {
    "title": "string",
    "owner_id": "integer",
    "person_id": "integer",
    "org_id": "integer",
    "pipeline_id": "integer",
    "stage_id": "integer",
    "value": "number",
    "currency": "string",
    "status": "string",
    "probability": "number",
    "lost_reason": "string",
    "visible_to": "integer",
    "expected_close_date": "string",
    "label_ids": "integers",
}
_ACTIVITY = {
    "subject": "string",
    "type": "string",
    "owner_id": "integer",
    "deal_id": "integer",
    "person_id": "integer",
    "org_id": "integer",
    "due_date": "string",
    "due_time": "string",
    "duration": "string",
    "busy": "boolean",
    "done": "boolean",
    "location": "string",
    "public_description": "string",
    "priority": "integer",
    "note": "string",
}
_NOTE = {
    "content": "string",
    "deal_id": "integer",
    "person_id": "integer",
    "org_id": "integer",
    "user_id": "integer",
    "pinned_to_deal_flag": "integer",
    "pinned_to_person_flag": "integer",
    "pinned_to_organization_flag": "integer",
}


@dataclass(frozen=True)
class PipedriveObject:
    """One kind of object an action can create or update."""

    name: str
    """The word actions use: ``person``."""
    version: str
    collection: str
    """``/persons``; the object's own path is ``<collection>/{id}``."""
    update_method: str
    fields: dict[str, str]
    """Body field → conversion (``string``, ``integer``, ``number``, ``boolean``, ``integers``,
    ``contacts``)."""
    create_cost: int
    update_cost: int
    custom_fields_entity: str | None
    """The tap's field-definition stream (``person_fields``) when it has custom fields."""
    owner_field: str | None
    """Where an owner goes (``owner_id``; ``user_id`` for notes)."""
    marker_field: str | None
    """A text field where a short hidden marker lets a crashed create be found again."""
    links: tuple[str, ...] = ()
    """Id fields that tie it to other objects (notes need one of them)."""

    @property
    def path(self) -> str:
        """The path of one object, as a template."""
        return f"{self.collection}/{{id}}"


OBJECTS: dict[str, PipedriveObject] = {
    "person": PipedriveObject(
        "person", "v2", "/persons", "PATCH", _PERSON, 5, 5, "personFields", "owner_id", None
    ),
    "organization": PipedriveObject(
        "organization",
        "v2",
        "/organizations",
        "PATCH",
        _ORGANIZATION,
        5,
        5,
        "organizationFields",
        "owner_id",
        None,
    ),
    "deal": PipedriveObject(
        "deal", "v2", "/deals", "PATCH", _DEAL, 5, 5, "dealFields", "owner_id", None
    ),
    "activity": PipedriveObject(
        "activity",
        "v2",
        "/activities",
        "PATCH",
        _ACTIVITY,
        5,
        5,
        None,
        "owner_id",
        "note",
        ("deal_id", "person_id", "org_id"),
    ),
    "note": PipedriveObject(
        "note",
        "v1",
        "/notes",
        "PUT",
        _NOTE,
        10,
        10,
        None,
        "user_id",
        "content",
        ("deal_id", "person_id", "org_id"),
    ),
}

#: ``GET /api/v2/persons/search`` (the upsert's match), ``GET /api/v2/<kind>Fields`` (custom
#: field names and labels, once per run) and the lists a crashed create is looked for in.
SEARCH_PERSONS_COST = 20
FIELDS_COST = 10
LIST_COSTS = {("v2", "/persons"): 10, ("v2", "/activities"): 10, ("v2", "/deals"): 10}
LIST_COSTS |= {("v2", "/organizations"): 10, ("v1", "/notes"): 20}
