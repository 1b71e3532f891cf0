"""Every endpoint's responses validate against the official spec's response schema.

Responses come from a sandbox with custom fields of every type, odd values (nulls, empty
arrays, unicode, deleted enum options, MySQL zero dates in v1), deleted and archived records,
and several pages per list. Schemas are closed (no undeclared field may appear, custom field
contents excepted) and the only deviations allowed are the documented ones in
``spec_allowances.py``. A failure names the endpoint and the field path.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pipedrive_sandbox.spec_tables import QUERY_PARAMETERS
from pipedrive_sandbox.testing import RunningSandbox
from spec_allowances import EXTRA_FIELDS, NULLABLE
from spec_schema import Converter, problems, response_schema, validator

MAX_PAGES = 6


def _include_all(version: str, template: str) -> str:
    return ",".join(
        value
        for value in QUERY_PARAMETERS[(version, template)]["params"]["include_fields"]["enum"]
        if "," not in value
    )


# (version, spec path template, concrete path, query)
LIST_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("v2", "/persons", "/persons", {"limit": 200}),
    (
        "v2",
        "/persons",
        "/persons",
        {
            "limit": 500,
            "include_fields": _include_all("v2", "/persons"),
            "include_option_labels": "true",
            "sort_by": "update_time",
            "sort_direction": "desc",
        },
    ),
    (
        "v2",
        "/organizations",
        "/organizations",
        {"limit": 100, "include_fields": _include_all("v2", "/organizations")},
    ),
    ("v2", "/deals", "/deals", {"limit": 150}),
    (
        "v2",
        "/deals",
        "/deals",
        {
            "limit": 500,
            "status": "open,won,lost,deleted",
            "include_option_labels": "true",
            "include_fields": _include_all("v2", "/deals"),
        },
    ),
    ("v2", "/deals/archived", "/deals/archived", {"limit": 10}),
    ("v2", "/activities", "/activities", {"limit": 250, "include_fields": "attendees"}),
    ("v2", "/activities", "/activities", {"limit": 100, "sort_by": "due_date", "done": "false"}),
    ("v2", "/personFields", "/personFields", {"limit": 10}),
    (
        "v2",
        "/organizationFields",
        "/organizationFields",
        {"include_fields": "ui_visibility,important_fields,required_fields"},
    ),
    (
        "v2",
        "/dealFields",
        "/dealFields",
        {"include_fields": "ui_visibility,important_fields,required_fields"},
    ),
    ("v2", "/activityFields", "/activityFields", {"include_fields": "ui_visibility"}),
    ("v2", "/pipelines", "/pipelines", {"limit": 1}),
    ("v2", "/stages", "/stages", {"limit": 4, "sort_by": "update_time"}),
    ("v1", "/notes", "/notes", {"limit": 100, "sort": "update_time DESC"}),
    ("v1", "/noteFields", "/noteFields", {}),
    ("v1", "/activityFields", "/activityFields", {}),
    ("v1", "/users", "/users", {}),
    ("v1", "/users/me", "/users/me", {}),
    ("v1", "/activityTypes", "/activityTypes", {}),
]
SINGLE_CASES = [
    ("v2", "/persons/{id}", "/persons/{id}", "persons"),
    ("v2", "/organizations/{id}", "/organizations/{id}", "organizations"),
    ("v2", "/deals/{id}", "/deals/{id}", "deals"),
    ("v2", "/activities/{id}", "/activities/{id}", "activities"),
    ("v1", "/notes/{id}", "/notes/{id}", "notes"),
    ("v1", "/persons/{id}/changelog", "/persons/{id}/changelog", "persons"),
    ("v1", "/deals/{id}/changelog", "/deals/{id}/changelog", "deals"),
]


def endpoint_name(method: str, version: str, template: str) -> str:
    """``GET /api/v2/persons`` (the key of the allowance tables)."""
    return f"{method} /api/{version}{template}"


def check_body(
    version: str, method: str, template: str, body: Any, include: list[str] | None = None
) -> list[str]:
    """Schema problems of one response body (empty list: conforms)."""
    endpoint = endpoint_name(method, version, template)
    extra = {path: dict(fields) for path, fields in EXTRA_FIELDS.get(endpoint, {}).items()}
    if include:  # fields requested via include_fields are declared by that parameter's enum
        item_path = "data[]" if isinstance(body.get("data"), list) else "data"
        extra.setdefault(item_path, {}).update({name: {} for name in include})
    converter = Converter(version, nullable=set(NULLABLE.get(endpoint, {})), extra=extra)
    schema = converter.convert(response_schema(version, method, template))
    return problems(validator(schema), body, endpoint)


def read_pages(session: requests.Session, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to MAX_PAGES response bodies of a list (v2 cursor or v1 offset pagination)."""
    bodies = []
    query = dict(params)
    for _ in range(MAX_PAGES):
        response = session.get(url, params=query, timeout=30)
        assert response.status_code == 200, (url, query, response.text)
        body = response.json()
        bodies.append(body)
        additional = body.get("additional_data") or {}
        if additional.get("next_cursor"):
            query["cursor"] = additional["next_cursor"]
        elif (additional.get("pagination") or {}).get("more_items_in_collection"):
            pagination = additional["pagination"]  # recents has no next_start
            query["start"] = pagination.get("next_start", pagination["start"] + pagination["limit"])
        else:
            break
    return bodies


@pytest.mark.parametrize(
    ("version", "template", "path", "params"),
    LIST_CASES,
    ids=[f"{c[0]}{c[2]}-{i}" for i, c in enumerate(LIST_CASES)],
)
def test_list_responses_match_spec(
    sandbox: RunningSandbox,
    api: requests.Session,
    version: str,
    template: str,
    path: str,
    params: dict[str, Any],
) -> None:
    bodies = read_pages(api, f"{sandbox.base_url}/api/{version}{path}", params)
    include = params.get("include_fields", "").split(",") if "include_fields" in params else None
    if template.endswith("Fields"):
        include = None  # there include_fields adds declared namespaces, not record fields
    found = [p for body in bodies for p in check_body(version, "GET", template, body, include)]
    assert not found, "\n".join(found[:25])
    assert any(body["data"] for body in bodies), "the case returned no data to check"


@pytest.mark.parametrize(
    ("version", "template", "path", "kind"), SINGLE_CASES, ids=[c[2] for c in SINGLE_CASES]
)
def test_single_record_responses_match_spec(
    sandbox: RunningSandbox,
    api: requests.Session,
    version: str,
    template: str,
    path: str,
    kind: str,
) -> None:
    records = sandbox.control.dataset(kind, include_deleted=False)
    # the first, a middle and the last record, plus (for changelogs) ones with history
    for record in (records[0], records[len(records) // 2], records[-1]):
        url = f"{sandbox.base_url}/api/{version}{path.replace('{id}', str(record['id']))}"
        for body in read_pages(api, url, {"limit": 1} if "changelog" in path else {}):
            found = check_body(version, "GET", template, body)
            assert not found, "\n".join(found[:25])


def test_custom_fields_and_odd_values_are_present(
    sandbox: RunningSandbox, api: requests.Session
) -> None:
    """The conformance cases above really exercise the hard parts of the schemas."""
    users = api.get(f"{sandbox.base_url}/api/v1/users", timeout=10).json()["data"]
    assert any(u["last_login"] == "0000-00-00 00:00:00" for u in users)
    assert any(u["phone"] is None for u in users)
    persons = sandbox.control.dataset("persons")
    info = sandbox.control.info()
    types = {f["field_type"] for f in info["custom_fields"]["persons"]}
    assert {
        "enum",
        "set",
        "monetary",
        "address",
        "date",
        "daterange",
        "time",
        "people",
        "user",
        "double",
        "varchar",
        "text",
        "phone",
    } <= types
    names = [f["name"] for f in info["custom_fields"]["persons"]]
    assert names.count("Region") == 2
    assert any(p["emails"] == [] for p in persons)
    assert any(p["last_name"] is None for p in persons)
    assert any(p["org_id"] is None for p in persons)
    assert any(any(ord(ch) > 0x2E80 for ch in p["name"]) for p in persons)  # CJK
    assert any(any(ch in "áéíóúüöäåøłñç" for ch in p["name"].lower()) for p in persons)
    filled = {key for p in persons for key, value in p["custom_fields"].items() if value}
    assert filled == {f["key"] for f in info["custom_fields"]["persons"]}


def _recent_branches(converter: Converter) -> dict[str, dict[str, Any]]:
    schema = converter.convert(response_schema("v1", "GET", "/recents"))
    branches = schema["properties"]["data"]["items"]["anyOf"]
    return {branch["properties"]["item"]["enum"][0]: branch for branch in branches}


def test_recents_responses_match_spec(sandbox: RunningSandbox, api: requests.Session) -> None:
    """Each recents item validates against the spec branch of its ``item`` type."""
    endpoint = "GET /api/v1/recents"
    nullable = set(NULLABLE.get(endpoint, {}))
    converter = Converter(
        "v1",
        nullable=nullable,
        extra=EXTRA_FIELDS[endpoint],
        custom_key_objects={"data[].data"},
    )
    envelope = converter.convert(response_schema("v1", "GET", "/recents"))
    envelope["properties"]["data"]["items"] = {"type": "object"}
    branches = _recent_branches(converter)
    url = f"{sandbox.base_url}/api/v1/recents"
    bodies = read_pages(api, url, {"since_timestamp": "2025-01-01 00:00:00", "limit": 500})
    seen: set[str] = set()
    found: list[str] = []
    for body in bodies:
        found += problems(validator(envelope), body, endpoint)
        for index, entry in enumerate(body["data"]):
            seen.add(entry["item"])
            branch = validator(branches[entry["item"]])
            found += [
                p.replace(f"{endpoint}: ", f"{endpoint}: data[{index}].", 1)
                for p in problems(branch, entry, endpoint)
            ]
    assert not found, "\n".join(found[:25])
    assert {"person", "organization", "deal", "activity", "note"} <= seen


def test_write_responses_match_spec(writable_sandbox: RunningSandbox) -> None:
    """POST/PATCH/DELETE answers validate against their operations' response schemas."""
    session = requests.Session()
    session.headers["x-api-token"] = writable_sandbox.api_token
    base = writable_sandbox.base_url
    info = writable_sandbox.control.info()
    enum_field = next(f for f in info["custom_fields"]["deals"] if f["field_type"] == "enum")
    live = {
        kind: [r["id"] for r in writable_sandbox.control.dataset(kind, include_deleted=False)]
        for kind in ("persons", "organizations", "deals", "activities", "notes")
    }
    live["deals"] = [
        r["id"]
        for r in writable_sandbox.control.dataset("deals", include_deleted=False)
        if not r["is_archived"]
    ]
    calls: list[tuple[str, str, str, str, dict[str, Any] | None]] = [
        (
            "v2",
            "POST",
            "/persons",
            "/persons",
            {
                "name": "Zoë Test",
                "emails": [{"value": "zoe@example.com", "primary": True, "label": "work"}],
                "marketing_status": "subscribed",
            },
        ),
        (
            "v2",
            "PATCH",
            "/persons/{id}",
            f"/persons/{live['persons'][3]}",
            {"name": "Renamed Person"},
        ),
        ("v2", "DELETE", "/persons/{id}", f"/persons/{live['persons'][4]}", None),
        ("v2", "POST", "/organizations", "/organizations", {"name": "Nordlys OÜ"}),
        (
            "v2",
            "PATCH",
            "/organizations/{id}",
            f"/organizations/{live['organizations'][2]}",
            {"website": None},
        ),
        ("v2", "DELETE", "/organizations/{id}", f"/organizations/{live['organizations'][3]}", None),
        ("v2", "POST", "/deals", "/deals", {"title": "New deal", "value": 1200}),
        (
            "v2",
            "PATCH",
            "/deals/{id}",
            f"/deals/{live['deals'][2]}",
            {
                "status": "lost",
                "lost_reason": "No budget",
                "custom_fields": {enum_field["key"]: None},
            },
        ),
        ("v2", "DELETE", "/deals/{id}", f"/deals/{live['deals'][5]}", None),
        ("v2", "POST", "/activities", "/activities", {"subject": "Call back", "type": "call"}),
        ("v2", "PATCH", "/activities/{id}", f"/activities/{live['activities'][2]}", {"done": True}),
        ("v2", "DELETE", "/activities/{id}", f"/activities/{live['activities'][3]}", None),
        ("v1", "POST", "/notes", "/notes", {"content": "<p>Hi</p>", "person_id": 1}),
        ("v1", "PUT", "/notes/{id}", f"/notes/{live['notes'][1]}", {"content": "<p>Edited</p>"}),
        ("v1", "DELETE", "/notes/{id}", f"/notes/{live['notes'][2]}", None),
    ]
    found: list[str] = []
    for version, method, template, path, body in calls:
        response = session.request(method, f"{base}/api/{version}{path}", json=body, timeout=10)
        assert response.status_code == 200, (method, path, response.text)
        found += check_body(version, method, template, response.json())
    assert not found, "\n".join(found[:25])
