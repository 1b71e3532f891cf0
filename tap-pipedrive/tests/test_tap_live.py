"""The live mode: tap-pipedrive applies spooled webhook events without list requests.

Events are written with the receiver's own spool (``pipedrive_webhooks.spool``), so these tests
also hold the two sides of the spool's table contract together. Webhook ``data`` is built from
the sandbox's API v2 rows the way Pipedrive's webhooks v2 shape it (notes section 8: string
``visible_to``, ``active_flag``/``busy_flag``, typed custom-field wrappers), and the live
record is compared with the record the normal sync makes of the same row.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from pipedrive_webhooks.payload import parse_delivery
from pipedrive_webhooks.spool import Spool, utc_now
from tap_helpers import by_id, catalog_for, run_tap, sandbox_config
from tap_pipedrive.errors import ConfigError
from tap_pipedrive.spool_reader import SpooledEvent, SpoolReader
from tap_pipedrive.webhook_records import api_row, unwrap_custom_value

ENTITY_STREAMS = ("persons", "organizations", "deals", "activities", "notes")
WEBHOOK_ONLY_ABSENT = {
    # include_fields the webhook does not carry
    "persons": {"marketing_status", "doi_status"},
    "deals": {"first_won_time", "source_lead_id"},
    "activities": {"attendees"},
    # v1 related objects the webhook's note does not carry
    "notes": {"deal", "person", "organization", "project", "task", "user"},
}
FIELDS_OF = {
    "persons": "personFields",
    "organizations": "organizationFields",
    "deals": "dealFields",
}
ENTITY_OF = {
    "persons": "person",
    "organizations": "organization",
    "deals": "deal",
    "activities": "activity",
    "notes": "note",
}


# -- building deliveries ----------------------------------------------------------------------


def wrap(field_type: str, value: Any) -> Any:  # noqa: PLR0911 - one case per wrapper
    """An API v2 custom-field value as a webhook v2 typed wrapper (notes section 8)."""
    if value is None:
        return None
    if field_type == "enum":
        return {"type": "enum", "id": value}
    if field_type == "set":
        return {"type": "set", "values": [{"id": item} for item in value]}
    if field_type in ("daterange", "timerange"):
        rest = {k: v for k, v in value.items() if k != "value"}
        return {"type": field_type, "from": value["value"], **rest}
    if isinstance(value, dict):
        return {"type": field_type, **value}
    if field_type in ("user", "org", "people"):
        return {"type": field_type, "id": value}
    return {"type": field_type, "value": value}


def as_webhook_data(stream: str, row: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """An API row as webhook v2 ``data``."""
    data = {k: v for k, v in row.items() if k not in WEBHOOK_ONLY_ABSENT.get(stream, set())}
    if "visible_to" in data and data["visible_to"] is not None:
        data["visible_to"] = str(data["visible_to"])
    if stream == "activities":
        data["busy_flag"] = data.pop("busy")
        data["active_flag"] = not data.pop("is_deleted")
    if isinstance(data.get("custom_fields"), dict):
        data["custom_fields"] = {
            code: wrap(types[code], value) for code, value in data["custom_fields"].items()
        }
    return data


def delivery(
    entity: str,
    entity_id: int,
    action: str,
    data: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    timestamp: str = "2026-11-24T13:18:55.665Z",
    **meta: Any,
) -> bytes:
    """A webhook v2 delivery body."""
    body = {
        "meta": {
            "action": action,
            "entity": entity,
            "entity_id": str(entity_id),
            "id": str(uuid.uuid4()),
            "timestamp": timestamp,
            "version": "2.0",
            "attempt": 1,
            **meta,
        },
        "data": data,
        "previous": previous,
    }
    return json.dumps(body).encode()


def spool_at(path: Path) -> Spool:
    """The receiver's spool (created as the receiver creates it)."""
    return Spool(str(path))


def append(spool: Spool, *bodies: bytes) -> None:
    """Spool deliveries as the receiver does."""
    spool.append([parse_delivery(body) for body in bodies], utc_now())


# -- the sandbox's rows -----------------------------------------------------------------------


def api_rows(sandbox: Any, stream: str, limit: int = 20) -> list[dict[str, Any]]:
    """Rows of a list endpoint as the API returns them."""
    version = "v1" if stream == "notes" else "v2"
    params: dict[str, Any] = {"limit": limit}
    if stream == "deals":
        params["status"] = "open,won,lost,deleted"
    response = requests.get(
        f"{sandbox.base_url}/api/{version}/{stream}",
        headers={"x-api-token": sandbox.api_token},
        params=params,
        timeout=30,
    )
    return response.json()["data"]


def field_types(sandbox: Any, stream: str) -> dict[str, str]:
    """``field_code`` → ``field_type`` of the entity's custom fields."""
    if stream not in FIELDS_OF:
        return {}
    response = requests.get(
        f"{sandbox.base_url}/api/v2/{FIELDS_OF[stream]}",
        headers={"x-api-token": sandbox.api_token},
        params={"limit": 500},
        timeout=30,
    )
    return {f["field_code"]: f["field_type"] for f in response.json()["data"]}


def list_records(sandbox: Any, streams: set[str]) -> dict[str, dict[Any, dict[str, Any]]]:
    """The normal sync's records of ``streams``, by id."""
    config = sandbox_config(sandbox, reconciliation_interval_days=1000)
    run = run_tap(config, catalog=catalog_for(config, streams))
    return {stream: by_id(run.records[stream]) for stream in streams}


@pytest.fixture
def live(tmp_path: Path, shared_sandbox: Any) -> dict[str, Any]:
    """Live-mode settings with a fresh spool and field cache."""
    return sandbox_config(
        shared_sandbox,
        webhook_spool=str(tmp_path / "spool.sqlite"),
        field_cache_path=str(tmp_path / "fields.json"),
    )


def live_run(config: dict[str, Any], streams: set[str], state: dict | None = None) -> Any:
    """A live run with ``streams`` selected."""
    return run_tap(config, state=state, catalog=catalog_for(config, streams))


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_tap_reads_what_the_receiver_spooled(
    backend: str, tmp_path: Path, make_pg_database: Callable[[], str]
) -> None:
    spool_url = str(tmp_path / "spool.sqlite") if backend == "sqlite" else make_pg_database()
    spool = Spool(spool_url)
    append(
        spool,
        delivery("person", 8, "create", {"id": 8, "name": "Ada"}),
        delivery("deal", 3, "delete", previous={"id": 3}),
        delivery("person", 9, "change", {"id": 9}, {"name": "B"}),
    )
    written = spool.read_after(0)
    spool.close()
    reader = SpoolReader(spool_url)
    assert reader.position() == written[-1].seq
    read = list(reader.read_after(0, "person", reader.position()))
    assert [e.seq for e in read] == [written[0].seq, written[2].seq]
    assert [(e.action, e.entity, e.entity_id) for e in read] == [
        ("create", "person", "8"),
        ("change", "person", "9"),
    ]
    assert read[0].payload == written[0].payload
    assert list(reader.read_after(written[1].seq, "deal", written[-1].seq)) == []
    assert [e.entity_id for e in reader.read_after(0, "deal", written[1].seq)] == ["3"]
    assert list(reader.read_after(0, "person", written[0].seq - 1)) == []


def test_a_database_without_the_spool_table_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "other.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(
        ConfigError,
        match=r"cannot be read as a pipedrive-webhooks spool .*"
        r"no webhook_events table.*set webhook_spool to the receiver's spool_url",
    ):
        SpoolReader(str(empty)).position()


@pytest.mark.parametrize(
    ("wrapper", "value"),
    [
        ({"type": "double", "value": 978}, 978),
        ({"id": 17, "type": "enum"}, 17),
        ({"values": [{"id": 13}, {"id": 14}], "type": "set"}, [13, 14]),
        (
            {"currency": "EUR", "type": "monetary", "value": 200},
            {"currency": "EUR", "value": 200},
        ),
        (
            {"from": "2024-01-01", "until": "2024-02-01", "type": "daterange"},
            {"value": "2024-01-01", "until": "2024-02-01"},
        ),
        ({"type": "varchar", "value": "Tallinn"}, "Tallinn"),
        ({"type": "set", "values": None}, None),
        ("plain", "plain"),
    ],
)
def test_webhook_custom_field_wrappers_become_api_v2_values(wrapper: Any, value: Any) -> None:
    assert unwrap_custom_value(wrapper) == value


@pytest.mark.parametrize(
    ("entity", "data", "expected"),
    [
        ("person", {"label": 5}, {"label_ids": [5]}),
        ("organization", {"label": "2,3"}, {"label_ids": [2, 3]}),
        ("person", {"label": None}, {"label_ids": []}),
        ("person", {"label": 5, "label_ids": [5, 6]}, {"label": 5, "label_ids": [5, 6]}),
        ("deal", {"user_id": 4, "deleted": False}, {"owner_id": 4, "is_deleted": False}),
        (
            "activity",
            {"busy_flag": True, "user_id": 4, "created_by_user_id": 9, "active_flag": True},
            {"busy": True, "owner_id": 4, "creator_user_id": 9, "is_deleted": False},
        ),
        ("note", {"user_id": 4, "active_flag": True}, {"user_id": 4, "is_deleted": False}),
    ],
)
def test_v1_names_a_webhook_may_use_become_api_v2_names(
    entity: str, data: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = json.loads(delivery(entity, 7, "change", {"id": 7, **data}, {}))
    event = SpooledEvent(seq=1, action="change", entity=entity, entity_id="7", payload=body)
    row = api_row(event, ())
    assert {key: row[key] for key in expected} == expected
    assert not set(data) - set(expected) - {"active_flag"} & set(row)


def test_create_and_change_events_are_the_normal_records(
    live: dict[str, Any], shared_sandbox: Any
) -> None:
    expected = list_records(shared_sandbox, set(ENTITY_STREAMS))
    spool = spool_at(Path(live["webhook_spool"]))
    sent: dict[str, list[int]] = {}
    for stream in ENTITY_STREAMS:
        types = field_types(shared_sandbox, stream)
        rows = api_rows(shared_sandbox, stream)
        sent[stream] = [row["id"] for row in rows]
        for number, row in enumerate(rows):
            action = "create" if number % 2 else "change"
            previous = None if action == "create" else {"name": "before"}
            data = as_webhook_data(stream, row, types)
            append(spool, delivery(ENTITY_OF[stream], row["id"], action, data, previous))

    run = live_run(live, set(ENTITY_STREAMS))

    for stream in ENTITY_STREAMS:
        got = by_id(run.records[stream])
        assert sorted(got) == sorted(sent[stream]), stream
        absent = WEBHOOK_ONLY_ABSENT.get(stream, set())
        for pid, record in got.items():
            want = {k: v for k, v in expected[stream][pid].items() if k not in absent}
            if stream == "persons":  # what a webhook cannot tell is named, not left out
                want["unknown_fields"] = ["doi_status", "marketing_status"]
            assert record == want, (stream, pid)
    with_custom = [r for r in run.records["persons"] if any(r["custom_fields"].values())]
    assert with_custom, "the sandbox's persons carry custom field values"
    assert all(v is None for versions in run.versions.values() for v in versions)
    assert run.activated == {}
    assert not run.records["users"]
    assert not run.records["pipelines"]


def test_deletes_are_the_last_state_marked_deleted_and_merges_name_the_survivor(
    live: dict[str, Any], shared_sandbox: Any
) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    rows = {stream: api_rows(shared_sandbox, stream, 2) for stream in ENTITY_STREAMS}
    for stream in ENTITY_STREAMS:
        types = field_types(shared_sandbox, stream)
        last_state = as_webhook_data(stream, rows[stream][0], types)
        append(
            spool,
            delivery(
                ENTITY_OF[stream],
                last_state["id"],
                "delete",
                previous=last_state,
                timestamp="2026-11-25T08:00:01.950Z",
            ),
        )
    person, survivor = rows["persons"]
    append(
        spool,
        delivery(
            "person",
            person["id"],
            "delete",
            previous=as_webhook_data("persons", person, field_types(shared_sandbox, "persons")),
            timestamp="2026-11-25T09:30:00.123Z",
            merged_to_id=str(survivor["id"]),
        ),
    )

    run = live_run(live, set(ENTITY_STREAMS))

    for stream in ENTITY_STREAMS:
        (record,) = run.records[stream]
        assert record["id"] == rows[stream][0]["id"]
        assert record["is_deleted"] is True
        if stream != "persons":
            assert record["update_time"] == "2026-11-25T08:00:01Z"
            assert "merged_to_id" not in record
    assert run.records["deals"][0]["status"] == "deleted"
    assert run.records["notes"][0]["active_flag"] is False
    merged = run.records["persons"][0]
    assert merged["merged_to_id"] == survivor["id"]
    assert merged["update_time"] == "2026-11-25T09:30:00Z"
    assert merged["name"] == person["name"]


def test_events_of_one_object_collapse_to_the_newest_update_time(
    live: dict[str, Any], shared_sandbox: Any
) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    row = api_rows(shared_sandbox, "persons", 1)[0]
    types = field_types(shared_sandbox, "persons")
    newer = as_webhook_data(
        "persons", {**row, "name": "Newer", "update_time": "2026-11-25T10:00:05Z"}, types
    )
    older = as_webhook_data(
        "persons", {**row, "name": "Older", "update_time": "2026-11-25T10:00:01Z"}, types
    )
    append(spool, delivery("person", row["id"], "change", newer, {"name": "Older"}))
    append(spool, delivery("person", row["id"], "change", older, {"name": "x"}))  # retried late

    run = live_run(live, {"persons"})

    assert [(r["name"], r["update_time"]) for r in run.records["persons"]] == [
        ("Newer", "2026-11-25T10:00:05Z")
    ]


def test_the_spool_position_is_in_state_after_the_records_and_a_rerun_repeats_nothing(
    live: dict[str, Any], shared_sandbox: Any
) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    rows = api_rows(shared_sandbox, "organizations", 3)
    types = field_types(shared_sandbox, "organizations")
    for row in rows:
        data = as_webhook_data("organizations", row, types)
        append(spool, delivery("organization", row["id"], "change", data, {"name": "x"}))
    append(spool, delivery("person", 1, "change", {"id": 1, "name": "P"}, {"name": "x"}))
    last = spool.read_after(0)[-1].seq  # a person's: every stream reads through it

    first = live_run(live, {"organizations"})

    positions = [
        (index, message["value"]["bookmarks"]["organizations"].get("spool_position"))
        for index, message in enumerate(first.messages)
        if message["type"] == "STATE" and "organizations" in message["value"].get("bookmarks", {})
    ]
    last_record = max(
        i
        for i, m in enumerate(first.messages)
        if m.get("stream") == "organizations" and m["type"] == "RECORD"
    )
    assert positions[-1][1] == last
    assert all(index > last_record for index, position in positions if position == last)
    assert sorted(first.ids("organizations")) == sorted(row["id"] for row in rows)

    again = live_run(live, {"organizations"}, state=first.state)
    assert again.records["organizations"] == []

    data = as_webhook_data("organizations", {**rows[0], "name": "Renamed"}, types)
    append(spool, delivery("organization", rows[0]["id"], "change", data, {"name": "x"}))
    third = live_run(live, {"organizations"}, state=again.state)
    assert [(r["id"], r["name"]) for r in third.records["organizations"]] == [
        (rows[0]["id"], "Renamed")
    ]


def test_cached_field_definitions_mean_no_api_request(
    live: dict[str, Any], shared_sandbox: Any
) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    row = api_rows(shared_sandbox, "persons", 1)[0]
    types = field_types(shared_sandbox, "persons")
    streams = {"persons", "person_fields"}
    first = live_run(live, streams)  # fills the cache: the field lists are read once
    assert first.records["person_fields"]
    append(
        spool, delivery("person", row["id"], "change", as_webhook_data("persons", row, types), {})
    )

    offline = {**live, "api_url": "http://127.0.0.1:9", "max_retries": 1}
    second = live_run(offline, streams, state=first.state)

    assert second.ids("persons") == [row["id"]]
    assert any(v is not None for v in second.records["persons"][0]["custom_fields"].values())
    assert second.records["person_fields"] == []  # the target has these definitions


def test_an_unknown_custom_field_reads_the_field_list_once_and_reaches_the_target(
    live: dict[str, Any], shared_sandbox: Any
) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    streams = {"persons", "person_fields"}
    first = live_run(live, streams)
    cache_path = Path(live["field_cache_path"])
    cache = json.loads(cache_path.read_text())
    definitions = cache["person_fields"]["definitions"]
    enum = next(f for f in definitions if f["is_custom_field"] and f["field_type"] == "enum")
    cache["person_fields"]["definitions"] = [f for f in definitions if f is not enum]
    cache_path.write_text(json.dumps(cache))  # as if the field was created after the last fetch

    row = api_rows(shared_sandbox, "persons", 1)[0]
    option = enum["options"][0]
    data = {**row, "custom_fields": {enum["field_code"]: {"type": "enum", "id": option["id"]}}}
    data["visible_to"] = str(data["visible_to"])
    append(spool, delivery("person", row["id"], "change", data, {}))

    second = live_run(live, streams, state=first.state)

    record = second.records["persons"][0]
    assert record["custom_fields"][enum["readable_name"]] == option["label"]
    assert enum["field_code"] in second.ids("person_fields")
    schemas = [
        m["schema"] for m in second.messages if m["type"] == "SCHEMA" and m["stream"] == "persons"
    ]
    assert enum["readable_name"] in schemas[-1]["properties"]["custom_fields"]["properties"]
    refreshed = json.loads(cache_path.read_text())["person_fields"]["definitions"]
    assert enum["field_code"] in {f["field_code"] for f in refreshed}


def test_a_spool_that_does_not_exist_is_one_line(tmp_path: Path, shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, webhook_spool=str(tmp_path / "nope.sqlite"))
    with pytest.raises(ConfigError, match=r"webhook_spool .*nope\.sqlite does not exist; set it"):
        live_run(config, {"persons"})
    assert not (tmp_path / "nope.sqlite").exists()


def test_an_unreachable_spool_is_named_without_its_password() -> None:
    reader = SpoolReader("postgresql://cdp:s3cret-pw@127.0.0.1:9/spool")
    with pytest.raises(ConfigError) as failure:
        reader.position()
    message = str(failure.value)
    assert "s3cret-pw" not in message
    assert "postgresql+psycopg://cdp:***@127.0.0.1:9/spool" in message


def test_a_run_started_by_the_receiver_reports_the_position_it_handed_on(
    live: dict[str, Any], shared_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    append(spool, delivery("person", 1, "change", {"id": 1, "name": "P"}, {"name": "x"}))
    append(spool, delivery("deal", 2, "change", {"id": 2, "title": "D"}, {"title": "x"}))
    run = spool.begin_run("events arrived")
    monkeypatch.setenv("PIPEDRIVE_WEBHOOKS_RUN_ID", str(run.run_id))

    result = live_run(live, {"persons", "deals"})

    through = spool.position()
    assert [r["update_time"] for r in result.records["deals"]] == ["2026-11-24T13:18:55Z"]
    assert result.state["bookmarks"]["persons"]["spool_position"] == through
    assert result.state["bookmarks"]["deals"]["spool_position"] == through
    assert spool.applied_position() == 0  # the run has not exited yet
    spool.finish_run(run.run_id, 0)
    assert spool.applied_position() == through
    assert spool.status().backlog == 0


def test_a_state_from_another_spool_is_one_line(live: dict[str, Any], shared_sandbox: Any) -> None:
    spool = spool_at(Path(live["webhook_spool"]))
    append(spool, delivery("person", 1, "change", {"id": 1, "name": "P"}, {"name": "x"}))
    state = {"bookmarks": {"persons": {"spool_position": 500}}}
    with pytest.raises(
        ConfigError,
        match=r"spool_position 500 for persons is past the newest "
        r"event of webhook_spool \(1\).*clear this extractor's state",
    ):
        live_run(live, {"persons"}, state=state)
