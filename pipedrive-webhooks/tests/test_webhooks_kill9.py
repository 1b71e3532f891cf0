"""A real ``pipedrive-webhooks serve`` (uvicorn subprocess) killed with SIGKILL mid-burst loses
no acknowledged event, and Pipedrive's retries after the restart store each event once."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
from pipedrive_webhooks.spool import Spool
from webhooks_helpers import PASSWORD, RunningReceiver, basic, delivery, start_receiver

EVENTS = 1200
SENDERS = 8
KILL_AFTER = 300


def send_burst(
    receiver: RunningReceiver, ids: list[str], acked: set[str], lock: threading.Lock
) -> threading.Event:
    """Send ``ids`` from ``SENDERS`` threads; set the returned event once ``KILL_AFTER`` were
    acknowledged. A sender stops at its first failed request (the receiver is gone)."""
    enough = threading.Event()

    def sender(chunk: list[str]) -> None:
        with requests.Session() as session:
            for event_id in chunk:
                try:
                    response = session.post(
                        receiver.url + "/", json=delivery(event_id), headers=basic(), timeout=10
                    )
                except requests.RequestException:
                    return
                if response.status_code == 200:
                    with lock:
                        acked.add(event_id)
                        if len(acked) >= KILL_AFTER:
                            enough.set()

    threads = [threading.Thread(target=sender, args=(ids[n::SENDERS],)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    enough.wait(timeout=120)
    receiver.process.kill()  # SIGKILL: no shutdown, no flush
    receiver.process.wait()
    for thread in threads:
        thread.join()
    return enough


def test_kill_9_mid_burst_loses_no_acknowledged_event(tmp_path: Path) -> None:
    spool_url = str(tmp_path / "spool.sqlite")
    ids = [f"ev-{n:05d}" for n in range(EVENTS)]
    acked: set[str] = set()
    lock = threading.Lock()

    first = start_receiver(tmp_path, spool_url)
    assert send_burst(first, ids, acked, lock).is_set()
    assert KILL_AFTER <= len(acked) < EVENTS, "the kill must land mid-burst"

    spool = Spool(spool_url)
    stored = [event.event_id for event in spool.read_after(0, limit=10 * EVENTS)]
    assert acked <= set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored))

    second = start_receiver(tmp_path, spool_url)
    ack_seconds: list[float] = []
    try:
        with requests.Session() as session:
            for event_id in ids:
                if event_id not in acked:  # Pipedrive retries what it got no 2xx for
                    retry = delivery(event_id, attempt=2)
                    response = session.post(
                        second.url + "/", json=retry, headers=basic(), timeout=10
                    )
                    assert response.status_code == 200
                    ack_seconds.append(response.elapsed.total_seconds())
            for event_id in sorted(acked)[:50]:  # and an ack lost on the way is retried too
                response = session.post(
                    second.url + "/",
                    json=delivery(event_id, attempt=2),
                    headers=basic(),
                    timeout=10,
                )
                assert response.status_code == 200
    finally:
        second.process.terminate()
        second.process.wait(timeout=60)

    events = spool.read_after(0, limit=10 * EVENTS)
    spool.close()
    assert sorted(event.event_id for event in events) == ids  # every event exactly once
    seqs = [event.seq for event in events]
    assert seqs == sorted(set(seqs))
    assert sorted(ack_seconds)[int(0.99 * len(ack_seconds))] < 1.0  # Pipedrive gives up at 10 s
    assert PASSWORD not in first.log() + second.log()
    assert "Application shutdown complete" in second.log()  # SIGTERM: a graceful stop
