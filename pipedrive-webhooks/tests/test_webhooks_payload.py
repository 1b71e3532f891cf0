"""What a webhook v2 delivery must carry to be spooled (``payload.py``)."""

from __future__ import annotations

import json

import pytest
from pipedrive_webhooks.payload import MalformedPayloadError, parse_delivery
from webhooks_helpers import delivery


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize("action", ["create", "change", "delete"])
def test_every_action_of_the_guide_is_accepted(action: str) -> None:
    raw = body(delivery("ev-1", action=action, entity="deal", entity_id="42", attempt=2))
    event = parse_delivery(raw)
    assert (event.event_id, event.action, event.entity, event.entity_id) == (
        "ev-1",
        action,
        "deal",
        "42",
    )
    assert event.attempt == 2
    assert event.occurred_at == "2026-11-24T13:18:55.665Z"
    assert event.body == raw


def test_integer_ids_and_unix_timestamps_are_taken_as_text() -> None:
    payload = delivery()
    payload["meta"].update(id=123456, entity_id=8, timestamp=1700000000)
    event = parse_delivery(body(payload))
    assert (event.event_id, event.entity_id, event.occurred_at) == ("123456", "8", "1700000000")


def test_unknown_entities_and_actions_are_kept_for_the_reader_to_decide() -> None:
    payload = delivery(entity="project")
    payload["meta"]["action"] = "archive"
    assert parse_delivery(body(payload)).entity == "project"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p["meta"].pop("id"), "meta.id must be a string or an integer, got NoneType"),
        (lambda p: p["meta"].update(id="  "), "meta.id is empty"),
        (lambda p: p["meta"].update(id=True), "meta.id must be a string or an integer, got bool"),
        (lambda p: p["meta"].update(id="x" * 201), "meta.id is longer than 200 characters"),
        (lambda p: p["meta"].pop("action"), "meta.action must be a non-empty string"),
        (lambda p: p["meta"].update(entity="e" * 65), "meta.entity is longer than 64 characters"),
        (lambda p: p["meta"].update(action="a" * 65), "meta.action is longer than 64 characters"),
        (
            lambda p: p["meta"].update(entity_id="9" * 201),
            "meta.entity_id is longer than 200 characters",
        ),
        (
            lambda p: p["meta"].update(timestamp="2" * 65),
            "meta.timestamp is longer than 64 characters",
        ),
        (lambda p: p["meta"].update(entity=3), "meta.entity must be a non-empty string"),
        (lambda p: p["meta"].pop("entity_id"), "meta.entity_id must be a string or an integer"),
        (lambda p: p.update(data=[1]), "data must be an object or null, got list"),
        (lambda p: p.update(data=None, previous=None), "both data and previous are null"),
        (lambda p: p.pop("meta"), "body has no meta object"),
        (lambda p: p["meta"].update(version="1.0"), "a webhooks version 1.0 delivery"),
    ],
)
def test_malformed_deliveries_name_the_problem(mutate, reason: str) -> None:
    payload = delivery()
    mutate(payload)
    with pytest.raises(MalformedPayloadError, match="^" + reason.replace(".", r"\.")):
        parse_delivery(body(payload))


def test_a_version_1_delivery_says_to_register_version_2() -> None:
    v1 = {"v": 1, "current": {"id": 8}, "previous": None, "meta": {"id": 5, "action": "added"}}
    with pytest.raises(MalformedPayloadError, match=r"register the subscription with version 2\.0"):
        parse_delivery(body(v1))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object, got list"),
        (b"\xff\xfe", "body is not JSON"),
    ],
)
def test_bodies_that_are_not_json_objects(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayloadError, match=reason):
        parse_delivery(raw)
