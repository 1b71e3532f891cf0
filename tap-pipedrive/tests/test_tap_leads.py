"""The leads stream against the sandbox: every lead (live and archived), custom fields by the
deal fields' readable names, incremental runs that read the archived list only down to the
bookmark, deletes found by the reconciliation pass, and deals' ``source_lead_id``."""

from __future__ import annotations

from typing import Any

import requests
from tap_helpers import by_id, catalog_for, run_tap, sandbox_config

STREAMS = {"leads", "deal_fields", "deals"}


def _api(sandbox: Any) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.headers["x-api-token"] = sandbox.api_token
    return session, f"{sandbox.base_url}/api/v1/leads"


def test_full_run_reads_every_lead_with_readable_custom_fields(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox)
    run = run_tap(config, catalog=catalog_for(config, STREAMS))
    dataset = {lead["id"]: lead for lead in shared_sandbox.control.dataset("leads")}
    leads = by_id(run.records["leads"])
    assert set(leads) == set(dataset)
    assert any(lead["is_archived"] for lead in leads.values())
    assert len(run.records["leads"]) == len(leads)  # each lead once
    (version,) = run.activated["leads"]  # a first run is a reconciliation pass
    assert set(run.versions["leads"]) == {version}

    fields = {f["field_code"]: f for f in run.records["deal_fields"] if f["is_custom_field"]}
    names = {f["readable_name"] for f in fields.values()}
    enum = next(f for f in fields.values() if f["field_type"] == "enum")
    labels = {str(o["id"]): o["label"] for o in enum["options"]}
    checked = 0
    for lead_id, raw in dataset.items():
        custom = leads[lead_id]["custom_fields"]
        assert set(custom) == names  # every deal field, null where the lead has no value
        if enum["field_code"] in raw:
            assert custom[enum["readable_name"]] == labels[raw[enum["field_code"]]]
            checked += 1
        else:
            assert custom[enum["readable_name"]] is None
    assert checked, "no lead has a value in the enum field"
    monetary = next(f for f in fields.values() if f["field_type"] == "monetary")
    with_money = next(i for i, raw in dataset.items() if monetary["field_code"] in raw)
    assert leads[with_money]["custom_fields"][monetary["readable_name"]] == {
        "value": dataset[with_money][monetary["field_code"]],
        "currency": dataset[with_money][f"{monetary['field_code']}_currency"],
    }
    sample = next(iter(dataset))
    assert leads[sample]["add_time"] == dataset[sample]["add_time"]
    assert leads[sample]["value"] == dataset[sample]["value"]

    converted = [d for d in run.records["deals"] if d.get("source_lead_id")]
    assert converted, "deals carry source_lead_id"
    assert all(d["source_lead_id"] not in leads for d in converted)  # converted: deleted


def test_incremental_run_reads_changes_only(sandbox: Any) -> None:
    config = sandbox_config(sandbox)
    catalog = catalog_for(config, STREAMS)
    first = run_tap(config, catalog=catalog)
    control = sandbox.control
    api, url = _api(sandbox)
    control.advance_clock(60)
    live = [lead for lead in first.records["leads"] if not lead["is_archived"]]
    renamed, archived = live[0]["id"], live[1]["id"]
    api.patch(f"{url}/{renamed}", json={"title": "Renamed lead"}, timeout=10).raise_for_status()
    api.patch(f"{url}/{archived}", json={"is_archived": True}, timeout=10).raise_for_status()
    created = api.post(url, json={"title": "New lead", "person_id": 1}, timeout=10)
    created.raise_for_status()
    new_id = created.json()["data"]["id"]
    control.reset_stats()

    second = run_tap(config, state=first.state, catalog=catalog)

    got = by_id(second.records["leads"])
    assert {renamed, archived, new_id} <= set(got)
    assert got[renamed]["title"] == "Renamed lead"
    assert got[archived]["is_archived"] is True
    # only the changes (and records at the bookmarks, re-read by design): not every lead
    assert len(got) < len(first.records["leads"]) // 2
    assert not second.activated["leads"]
    operations = control.stats()["by_operation"]
    assert operations["GET /api/v1/leads"]["requests"] == 1
    # the archived list has no time filter: read newest first, one page reaches the bookmark
    assert operations["GET /api/v1/leads/archived"] == {"requests": 1, "tokens": 40}

    third = run_tap(config, state=second.state, catalog=catalog)
    assert set(by_id(third.records["leads"])) <= {renamed, archived, new_id}


def test_reconciliation_retires_deleted_and_converted_leads(sandbox: Any) -> None:
    config = sandbox_config(sandbox)
    catalog = catalog_for(config, STREAMS)
    first = run_tap(config, catalog=catalog)
    api, url = _api(sandbox)
    deleted, converted = first.ids("leads")[0], first.ids("leads")[1]
    api.delete(f"{url}/{deleted}", timeout=10).raise_for_status()
    answer = api.post(
        f"{sandbox.base_url}/api/v2/leads/{converted}/convert/deal", json={}, timeout=10
    )
    answer.raise_for_status()

    second = run_tap(
        sandbox_config(sandbox, reconciliation_interval_days=0), state=first.state, catalog=catalog
    )

    (version,) = second.activated["leads"]
    assert version > first.activated["leads"][0]
    assert set(second.ids("leads")) == {lead["id"] for lead in sandbox.control.dataset("leads")}
    assert deleted not in second.ids("leads")
    assert converted not in second.ids("leads")
    assert any(d.get("source_lead_id") == converted for d in second.records["deals"])
