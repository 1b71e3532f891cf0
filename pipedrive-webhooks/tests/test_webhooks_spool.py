"""The spool on both engines: dedupe, reading in position order, runs and the applied position."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipedrive_webhooks.payload import parse_delivery
from pipedrive_webhooks.spool import Spool, masked_url, utc_now
from sqlalchemy import text
from webhooks_helpers import delivery


def event(event_id: str, **kwargs: str):
    return parse_delivery(json.dumps(delivery(event_id, **kwargs)).encode())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def spool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Spool]:
    if request.param == "sqlite":
        url = str(tmp_path / "nested" / "spool.sqlite")
    else:
        url = request.getfixturevalue("make_pg_database")()
    spool = Spool(url)
    yield spool
    spool.close()


def test_append_skips_redelivered_ids_and_counts_the_new(spool: Spool) -> None:
    now = utc_now()
    assert spool.append([event("a"), event("b"), event("a")], now) == 2
    assert spool.append([event("b"), event("c", action="delete", entity="deal")], now) == 1
    assert spool.append([event("c")], now) == 0
    events = spool.read_after(0)
    assert [(e.event_id, e.action, e.entity) for e in events] == [
        ("a", "change", "person"),
        ("b", "change", "person"),
        ("c", "delete", "deal"),
    ]
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert spool.position() == events[-1].seq
    assert events[0].received_at == now


def test_read_after_pages_by_position(spool: Spool) -> None:
    spool.append([event(f"e{i}") for i in range(7)], utc_now())
    seen: list[str] = []
    position = 0
    while page := spool.read_after(position, limit=3):
        seen += [e.event_id for e in page]
        position = page[-1].seq
    assert seen == [f"e{i}" for i in range(7)]
    assert spool.count_after(0) == 7
    assert spool.count_after(position) == 0


def test_concurrent_writers_commit_in_position_order(spool: Spool) -> None:
    """A reader that remembers its position never skips an event committed later with a
    smaller position (several receivers on one PostgreSQL spool)."""
    writers = 4
    per_writer = 40
    read: list[int] = []
    done = threading.Event()

    def write(worker: int) -> None:
        for i in range(per_writer):
            spool.append([event(f"w{worker}-{i}")], utc_now())

    def follow() -> None:
        position = 0
        while True:
            finished = done.is_set()
            page = spool.read_after(position, limit=1000)
            read.extend(e.seq for e in page)
            position = page[-1].seq if page else position
            if finished and not page:
                return

    reader = threading.Thread(target=follow)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    assert len(read) == writers * per_writer == len(set(read))


def test_runs_and_the_applied_position(spool: Spool) -> None:
    spool.append([event("a"), event("b")], utc_now())
    first = spool.begin_run("2 new webhook event(s)")
    assert first.spool_position_at_start == spool.position()
    spool.record_applied(first.run_id, spool.position())
    assert spool.applied_position() == 0  # not applied until the run succeeded
    spool.finish_run(first.run_id, 0)
    assert spool.applied_position() == spool.position()
    spool.append([event("c")], utc_now())
    failed = spool.begin_run("1 new webhook event(s)")
    spool.record_applied(failed.run_id, spool.position())
    spool.finish_run(failed.run_id, 1)
    status = spool.status()
    assert (status.events, status.backlog, status.applied_position) == (
        3,
        1,
        first.spool_position_at_start,
    )
    assert status.last_event is not None
    assert status.last_event.event_id == "c"
    last = status.last_run
    assert last is not None
    assert (last.run_id, last.exit_code, last.applied_through) == (
        failed.run_id,
        1,
        spool.position(),
    )
    assert last.finished_at is not None
    assert last.finished_at >= last.started_at


def test_dead_letters_count_repeated_bodies(spool: Spool) -> None:
    for _ in range(2):
        spool.add_dead_letter(
            reason="body is not JSON",
            status_code=400,
            body=b"\xff{",
            body_size=2,
            content_type="application/json",
            received_at=utc_now(),
        )
    spool.add_dead_letter(
        reason="meta.id is empty",
        status_code=400,
        body=b'{"meta": {"id": ""}}',
        body_size=20,
        content_type=None,
        received_at=utc_now(),
    )
    status = spool.status()
    assert status.dead_letters == 2
    assert status.last_dead_letter_reason == "meta.id is empty"


def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool.sqlite"))
    with spool.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    spool.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://cdp:hunter2pass@db:5432/cdp", "postgresql+psycopg://cdp:***@db:5432/cdp"),
        ("spool.sqlite", "sqlite:///spool.sqlite"),
    ],
)
def test_urls_are_shown_without_password(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_an_unsupported_url_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"neither SQLite nor PostgreSQL: use a file path") as err:
        Spool("mysql://root:topsecretpw@db/cdp")
    assert "topsecretpw" not in str(err.value)
