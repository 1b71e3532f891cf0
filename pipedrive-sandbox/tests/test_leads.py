"""Leads: v1 lists, reads and writes, v2 conversion into a deal, and deals' ``source_lead_id``.

Every answer validates against the spec's response schema (closed objects; lead custom fields
are the deal fields' hash keys at the top level, as the spec says leads "inherit the custom
fields' structure from deals"), and the behaviour the tap relies on is checked on values:
``updated_since`` is inclusive, ``sort`` orders, archived leads live only on
``/leads/archived``, a deleted or converted lead is gone, each call costs the spec's tokens.
"""

from __future__ import annotations

from typing import Any

import requests
from pipedrive_sandbox.testing import RunningSandbox
from sandbox_helpers import api_session
from spec_schema import Converter, problems, response_schema, validator

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def check(version: str, method: str, template: str, body: Any, status: str = "200") -> None:
    """The body conforms to the operation's response schema (custom keys allowed on leads)."""
    endpoint = f"{method} /api/{version}{template}"
    converter = Converter(version, custom_key_objects={"data[]", "data"})
    schema = converter.convert(response_schema(version, method, template, status))
    found = problems(validator(schema), body, endpoint)
    assert not found, "\n".join(found[:25])


def all_leads(api: requests.Session, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a lead list, each page checked against the spec."""
    rows: list[dict[str, Any]] = []
    start = 0
    template = url.split("/api/v1", 1)[1]
    while True:
        body = api.get(url, params={**params, "start": start, "limit": 7}, timeout=10).json()
        check("v1", "GET", template, body)
        rows += body["data"]
        if not body["additional_data"]["more_items_in_collection"]:
            return rows
        start += 7


def test_lead_lists_and_reads_match_the_spec(sandbox: RunningSandbox) -> None:
    api = api_session(sandbox)
    base = f"{sandbox.base_url}/api/v1"
    live = all_leads(api, f"{base}/leads")
    archived = all_leads(api, f"{base}/leads/archived")
    assert len(live) + len(archived) == 2000 // 25
    assert archived
    assert all(not lead["is_archived"] for lead in live)
    assert all(lead["is_archived"] for lead in archived)
    # default order: creation time, oldest first
    assert [lead["add_time"] for lead in live] == sorted(lead["add_time"] for lead in live)
    assert {lead["id"] for lead in live + archived} == {
        lead["id"] for lead in sandbox.control.dataset("leads")
    }
    assert all(lead["person_id"] or lead["organization_id"] for lead in live)
    custom_keys = {f["key"] for f in sandbox.control.info()["custom_fields"]["deals"]}
    assert any(set(lead) & custom_keys for lead in live), "no lead carries a deal custom field"
    for lead in (live[0], archived[0]):
        body = api.get(f"{base}/leads/{lead['id']}", timeout=10).json()
        check("v1", "GET", "/leads/{id}", body)
        assert body["data"] == lead


def test_updated_since_is_inclusive_and_sort_orders(sandbox: RunningSandbox) -> None:
    api = api_session(sandbox)
    base = f"{sandbox.base_url}/api/v1"
    newest_first = all_leads(api, f"{base}/leads", sort="update_time DESC, id ASC")
    times = [lead["update_time"] for lead in newest_first]
    assert times == sorted(times, reverse=True)
    boundary = newest_first[len(newest_first) // 3]["update_time"]
    since = all_leads(api, f"{base}/leads", updated_since=boundary)
    assert {lead["id"] for lead in since} == {
        lead["id"] for lead in newest_first if lead["update_time"] >= boundary
    }
    refused = api.get(f"{base}/leads", params={"sort": "value DESC"}, timeout=10)
    assert refused.status_code == 400
    assert "Parameter 'sort'" in refused.json()["error"]
    # /leads/archived declares no updated_since: an undeclared parameter is refused
    refused = api.get(f"{base}/leads/archived", params={"updated_since": boundary}, timeout=10)
    assert refused.status_code == 400
    assert "updated_since" in refused.json()["error"]


def test_lead_writes_archive_delete_and_convert(writable_sandbox: RunningSandbox) -> None:
    api = api_session(writable_sandbox)
    v1, v2 = f"{writable_sandbox.base_url}/api/v1", f"{writable_sandbox.base_url}/api/v2"
    control = writable_sandbox.control
    enum_field = next(
        f for f in control.info()["custom_fields"]["deals"] if f["field_type"] == "enum"
    )
    option = next(
        f
        for f in api.get(f"{v2}/dealFields", timeout=10).json()["data"]
        if f["field_code"] == enum_field["key"]
    )["options"][0]["id"]
    created = api.post(
        f"{v1}/leads",
        json={
            "title": "Harbour expansion",
            "person_id": 2,
            "value": {"amount": 1500, "currency": "EUR"},
            enum_field["key"]: option,
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    check("v1", "POST", "/leads", created.json(), "201")
    lead = created.json()["data"]
    assert (lead["source_name"], lead["origin"]) == ("API", "API")
    assert lead[enum_field["key"]] == str(option)
    lead_id = lead["id"]

    control.advance_clock(60)
    changed = api.patch(f"{v1}/leads/{lead_id}", json={"is_archived": True}, timeout=10)
    check("v1", "PATCH", "/leads/{id}", changed.json())
    assert changed.json()["data"]["update_time"] > lead["update_time"]
    assert lead_id not in {row["id"] for row in all_leads(api, f"{v1}/leads")}
    assert lead_id in {row["id"] for row in all_leads(api, f"{v1}/leads/archived")}

    unlinked = api.patch(f"{v1}/leads/{lead_id}", json={"person_id": None}, timeout=10)
    assert unlinked.status_code == 400
    assert "person_id or organization_id" in unlinked.json()["error"]

    converted = api.post(f"{v2}/leads/{lead_id}/convert/deal", json={}, timeout=10)
    check("v2", "POST", "/leads/{id}/convert/deal", converted.json())
    conversion_id = converted.json()["data"]["conversion_id"]
    status = api.get(f"{v2}/leads/{lead_id}/convert/status/{conversion_id}", timeout=10).json()
    check("v2", "GET", "/leads/{id}/convert/status/{conversion_id}", status)
    assert status["data"]["status"] == "completed"
    deal = api.get(
        f"{v2}/deals/{status['data']['deal_id']}",
        params={"include_fields": "source_lead_id"},
        timeout=10,
    ).json()["data"]
    assert deal["source_lead_id"] == lead_id
    assert (deal["title"], deal["person_id"], deal["value"]) == ("Harbour expansion", 2, 1500)
    assert deal["custom_fields"][enum_field["key"]] == option
    gone = api.get(f"{v1}/leads/{lead_id}", timeout=10)
    assert gone.status_code == 404
    check("v1", "GET", "/leads/{id}", gone.json(), "404")

    other = all_leads(api, f"{v1}/leads")[0]["id"]
    deleted = api.delete(f"{v1}/leads/{other}", timeout=10)
    check("v1", "DELETE", "/leads/{id}", deleted.json())
    assert deleted.json()["data"] == {"id": other}
    assert other not in {row["id"] for row in control.dataset("leads")}
    assert api.delete(f"{v1}/leads/{other}", timeout=10).status_code == 404

    spent = control.stats()["by_operation"]
    assert spent["POST /api/v1/leads"] == {"requests": 1, "tokens": 10}
    assert spent["DELETE /api/v1/leads/{id}"] == {"requests": 2, "tokens": 12}
    assert spent["POST /api/v2/leads/{id}/convert/deal"]["tokens"] == 40


def test_lead_bodies_are_checked(writable_sandbox: RunningSandbox) -> None:
    api = api_session(writable_sandbox)
    url = f"{writable_sandbox.base_url}/api/v1/leads"
    cases = [
        ({"person_id": 1}, "Field 'title' is required"),
        ({"title": "No link"}, "person_id or organization_id"),
        ({"title": "x", "person_id": 999_999}, "person 999999 does not exist"),
        ({"title": "x", "person_id": 1, "value": {"amount": 5}}, "Field 'value'"),
        ({"title": "x", "person_id": 1, "visible_to": "2"}, "Field 'visible_to'"),
        ({"title": "x", "person_id": 1, "colour": "red"}, "Unknown field 'colour'"),
    ]
    for body, message in cases:
        answer = api.post(url, json=body, timeout=10)
        assert answer.status_code == 400, body
        assert message in answer.json()["error"], (body, answer.json())


def test_seeded_deals_name_the_lead_they_came_from(sandbox: RunningSandbox) -> None:
    """``include_fields=source_lead_id`` returns it; without it the field is absent."""
    api = api_session(sandbox)
    url = f"{sandbox.base_url}/api/v2/deals"
    asked = api.get(url, params={"limit": 500, "include_fields": "source_lead_id"}, timeout=10)
    deals = asked.json()["data"]
    from_leads = [d for d in deals if d["source_lead_id"]]
    assert 0 < len(from_leads) < len(deals)
    assert all(len(d["source_lead_id"]) == 36 for d in from_leads)
    plain = api.get(url, params={"limit": 5}, timeout=10).json()["data"]
    assert all("source_lead_id" not in d for d in plain)
    listed = {lead["id"] for lead in sandbox.control.dataset("leads")}
    assert not listed & {d["source_lead_id"] for d in from_leads}  # converted: deleted
