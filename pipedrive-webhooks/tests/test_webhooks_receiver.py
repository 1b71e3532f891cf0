"""The receiver app in-process (Starlette's TestClient): auth, limits, dead letters, dedupe."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipedrive_webhooks.app import ReceiverSettings, create_app
from pipedrive_webhooks.spool import Spool, dead_letters
from sqlalchemy import select
from starlette.testclient import TestClient
from webhooks_helpers import PASSWORD, USER, basic, delivery

LIMIT = 4096


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(str(tmp_path / "spool.sqlite"))
    yield spool
    spool.close()


@pytest.fixture
def client(spool: Spool) -> Iterator[TestClient]:
    settings = ReceiverSettings(
        spool_url="unused", auth_user=USER, auth_password=PASSWORD, max_body_bytes=LIMIT
    )
    with TestClient(create_app(settings, spool)) as client:
        yield client


def letters(spool: Spool) -> list[dict]:
    with spool.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(dead_letters)).mappings()]


def test_a_delivery_is_stored_before_the_2xx(client: TestClient, spool: Spool) -> None:
    payload = delivery("ev-1", action="change", entity="deal", entity_id="42", attempt=1)
    response = client.post("/pipedrive/webhooks", json=payload, headers=basic())
    assert response.status_code == 200
    [event] = spool.read_after(0)
    assert (event.seq, event.event_id, event.action, event.entity, event.entity_id) == (
        1,
        "ev-1",
        "change",
        "deal",
        "42",
    )
    assert event.payload == payload
    assert event.attempt == 1


def test_redeliveries_are_acknowledged_and_stored_once(client: TestClient, spool: Spool) -> None:
    first = delivery("ev-1")
    for attempt in (1, 2, 3, 4):
        retry = {**first, "meta": {**first["meta"], "attempt": attempt}}
        assert client.post("/", json=retry, headers=basic()).status_code == 200
    client.post("/", json=delivery("ev-2"), headers=basic())
    events = spool.read_after(0)
    assert [(e.event_id, e.attempt) for e in events] == [("ev-1", 1), ("ev-2", 1)]
    assert events[0].seq < events[1].seq  # redeliveries may use up numbers: gaps, no reuse


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(password="wrong-password-123"),
        basic(user="someone"),
        basic(password=PASSWORD + "x"),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic not-base64!"},
    ],
)
def test_without_the_basic_credentials_401_and_nothing_is_kept(
    client: TestClient, spool: Spool, headers: dict[str, str]
) -> None:
    response = client.post("/", json=delivery(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert spool.read_after(0) == []
    assert letters(spool) == []


def test_a_malformed_delivery_gets_400_and_a_dead_letter_with_the_reason(
    client: TestClient, spool: Spool
) -> None:
    payload = delivery("ev-1")
    del payload["meta"]["entity"]
    raw = json.dumps(payload).encode()
    for _ in range(3):  # Pipedrive retries a refused delivery
        response = client.post("/", content=raw, headers=basic())
        assert response.status_code == 400
        assert response.json()["error"] == "meta.entity must be a non-empty string"
    [letter] = letters(spool)
    assert letter["reason"] == "meta.entity must be a non-empty string"
    assert (letter["status_code"], letter["deliveries"], letter["body"]) == (400, 3, raw)
    assert spool.read_after(0) == []


def test_an_oversized_body_gets_413_and_its_start_is_kept(client: TestClient, spool: Spool) -> None:
    payload = delivery("ev-big")
    payload["data"]["notes"] = "x" * LIMIT
    raw = json.dumps(payload).encode()
    response = client.post("/", content=raw, headers=basic())
    assert response.status_code == 413
    [letter] = letters(spool)
    assert letter["status_code"] == 413
    assert letter["body_size"] == len(raw)
    assert letter["reason"].startswith(f"body of {len(raw)} bytes is over max_body_bytes ({LIMIT})")
    assert spool.read_after(0) == []


def test_a_chunked_body_over_the_limit_is_cut_at_the_limit(
    client: TestClient, spool: Spool
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = client.post("/", content=chunks(), headers=basic())
    assert response.status_code == 413
    [letter] = letters(spool)
    assert letter["body"] == b"x" * LIMIT
    assert letter["body_size"] > LIMIT


def test_a_failed_write_answers_503_so_pipedrive_retries(
    client: TestClient, spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(spool, "append", broken)
    assert client.post("/", json=delivery("ev-1"), headers=basic()).status_code == 503
    monkeypatch.undo()
    assert client.post("/", json=delivery("ev-1"), headers=basic()).status_code == 200
    assert [e.event_id for e in spool.read_after(0)] == ["ev-1"]


def test_health_needs_no_credentials_and_tells_nothing(client: TestClient) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_no_credential_reaches_the_logs_or_the_spool(
    client: TestClient, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/", json=delivery("ev-1"), headers=basic())
    client.post("/", json=delivery(), headers=basic(password=PASSWORD[:-1]))
    client.post("/", content=b"{", headers=basic())
    assert "Refused a delivery from testclient: missing or wrong Basic credentials" in caplog.text
    assert PASSWORD not in caplog.text
    assert PASSWORD[:-1] not in caplog.text
    with spool.engine.connect() as conn:
        dump = "\n".join(conn.connection.driver_connection.iterdump())
    assert PASSWORD not in dump
    assert USER + ":" not in dump


@pytest.mark.postgres
def test_a_postgresql_spool_receives_and_deduplicates(make_pg_database) -> None:
    spool = Spool(make_pg_database())
    settings = ReceiverSettings(spool_url="unused", auth_user=USER, auth_password=PASSWORD)
    with TestClient(create_app(settings, spool)) as client:
        for event_id in ("ev-1", "ev-2", "ev-1"):
            assert client.post("/", json=delivery(event_id), headers=basic()).status_code == 200
        assert client.post("/", content=b"[]", headers=basic()).status_code == 400
    assert [e.event_id for e in spool.read_after(0)] == ["ev-1", "ev-2"]
    assert spool.status().dead_letters == 1
    spool.close()


@pytest.mark.postgres
def test_an_over_long_field_is_a_dead_letter_not_a_failed_batch(make_pg_database) -> None:
    """PostgreSQL enforces column lengths: such an event must not fail the batch it shares."""
    spool = Spool(make_pg_database())
    settings = ReceiverSettings(spool_url="unused", auth_user=USER, auth_password=PASSWORD)
    bad = delivery("ev-bad", entity="x" * 65)
    with TestClient(create_app(settings, spool)) as client:
        statuses = [
            client.post("/", json=payload, headers=basic()).status_code
            for payload in (delivery("ev-1"), bad, delivery("ev-2"))
        ]
    assert statuses == [200, 400, 200]
    assert [e.event_id for e in spool.read_after(0)] == ["ev-1", "ev-2"]
    assert spool.status().last_dead_letter_reason == "meta.entity is longer than 64 characters"
    spool.close()


def test_settings_never_show_a_password() -> None:
    settings = ReceiverSettings(
        spool_url="postgresql://cdp:db-pass-4242@db/cdp", auth_user=USER, auth_password=PASSWORD
    )
    shown = repr(settings) + str(settings)
    assert "db-pass-4242" not in shown
    assert PASSWORD not in shown
