"""The applying job's trigger: debounced, capped, one run at a time, each run recorded."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipedrive_webhooks.app import ReceiverSettings, create_app
from pipedrive_webhooks.debounce import Debounce
from pipedrive_webhooks.payload import parse_delivery
from pipedrive_webhooks.spool import Spool, utc_now
from pipedrive_webhooks.trigger import ApplyTrigger
from starlette.testclient import TestClient
from webhooks_helpers import PASSWORD, USER, basic, delivery

# The fake applying job: logs its start and end (with its run id) and takes a moment.
JOB = """
import json, os, sys, time
with open(sys.argv[1], "a") as log:
    log.write(json.dumps(["start", os.environ["PIPEDRIVE_WEBHOOKS_RUN_ID"], time.time()]) + "\\n")
time.sleep(float(sys.argv[2]))
with open(sys.argv[1], "a") as log:
    log.write(json.dumps(["end", os.environ["PIPEDRIVE_WEBHOOKS_RUN_ID"], time.time()]) + "\\n")
sys.exit(int(sys.argv[3]))
"""


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(str(tmp_path / "spool.sqlite"))
    yield spool
    spool.close()


def job(log: Path, seconds: float = 0.3, exit_code: int = 0) -> list[str]:
    return [sys.executable, "-c", JOB, str(log), str(seconds), str(exit_code)]


def job_log(log: Path) -> list[list]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def runs_of(spool: Spool) -> list:
    """Every run, oldest first."""
    return list(reversed(spool.recent_runs(100)))


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("first", "last", "due"),
    [(0.0, 0.0, 2.0), (0.0, 5.0, 7.0), (0.0, 9.0, 10.0), (3.0, 20.0, 13.0)],
)
def test_debounce_waits_for_quiet_but_not_past_the_maximum(
    first: float, last: float, due: float
) -> None:
    assert Debounce(quiet=2.0, max_wait=10.0).due_at(first, last) == due


def test_a_burst_starts_one_run_after_it_ends(spool: Spool, tmp_path: Path) -> None:
    log = tmp_path / "job.log"

    async def scenario() -> None:
        trigger = ApplyTrigger(spool, job(log), Debounce(quiet=0.3, max_wait=10.0))
        trigger.start()
        for _ in range(10):
            trigger.notify()
            await asyncio.sleep(0.05)
        await until(lambda: len(job_log(log)) == 2)
        await asyncio.sleep(1.0)  # nothing more is pending: no second run
        await trigger.stop()

    asyncio.run(scenario())
    assert [entry[0] for entry in job_log(log)] == ["start", "end"]
    [run] = runs_of(spool)
    assert run.reason == "10 new webhook event(s)"
    assert run.exit_code == 0
    assert job_log(log)[0][1] == str(run.run_id)


def test_events_during_a_run_start_one_more_run_after_it_never_two_at_once(
    spool: Spool, tmp_path: Path
) -> None:
    log = tmp_path / "job.log"

    async def scenario() -> None:
        trigger = ApplyTrigger(spool, job(log, seconds=1.0), Debounce(quiet=0.1, max_wait=0.2))
        trigger.start()
        trigger.notify()
        await until(lambda: len(job_log(log)) == 1)  # the first run is going
        for _ in range(5):
            trigger.notify()
            await asyncio.sleep(0.1)
        await until(lambda: len(job_log(log)) == 4)
        # the job has logged its end; wait for its exit to be recorded before stopping
        await until(lambda: [run.exit_code for run in runs_of(spool)].count(None) == 0)
        await trigger.stop()

    asyncio.run(scenario())
    entries = job_log(log)
    assert [entry[0] for entry in entries] == ["start", "end", "start", "end"]
    assert entries[2][2] >= entries[1][2]  # the second started after the first ended
    assert [run.exit_code for run in runs_of(spool)] == [0, 0]


def test_a_steady_trickle_still_runs_within_the_maximum_wait(spool: Spool, tmp_path: Path) -> None:
    log = tmp_path / "job.log"

    async def scenario() -> float:
        trigger = ApplyTrigger(spool, job(log, seconds=0.1), Debounce(quiet=0.5, max_wait=0.8))
        trigger.start()
        started = time.time()
        while time.time() - started < 3.0:  # never 0.5 s quiet
            trigger.notify()
            await asyncio.sleep(0.1)
        await trigger.stop()
        return started

    started = asyncio.run(scenario())
    first_start = job_log(log)[0][2]
    assert first_start - started < 2.5  # 0.8 s max wait plus process start-up on a busy machine


def test_a_failed_or_missing_command_is_recorded_and_logged(
    spool: Spool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario(command: list[str]) -> None:
        trigger = ApplyTrigger(spool, command, Debounce(quiet=0.0, max_wait=0.0))
        trigger.start()
        trigger.notify()
        before = spool.last_run()
        await until(
            lambda: (r := spool.last_run()) is not None and r != before and r.exit_code is not None
        )
        await trigger.stop()

    asyncio.run(scenario(job(tmp_path / "job.log", seconds=0, exit_code=3)))
    assert spool.last_run().exit_code == 3
    assert "failed (exit code 3" in caplog.text
    assert "the scheduled polling job remains the safety net" in caplog.text
    asyncio.run(scenario([str(tmp_path / "no-such-program")]))
    assert spool.last_run().exit_code == 127
    assert "could not start" in caplog.text


def test_the_receiver_triggers_on_new_events_only_and_catches_up_at_start(
    spool: Spool, tmp_path: Path
) -> None:
    log = tmp_path / "job.log"
    spool.append([parse_delivery(json.dumps(delivery("old")).encode())], utc_now())
    settings = ReceiverSettings(
        spool_url="unused",
        auth_user=USER,
        auth_password=PASSWORD,
        apply_command=tuple(job(log, seconds=0.1)),
        apply_quiet_seconds=0.2,
        apply_max_wait_seconds=1.0,
    )

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(job_log(log)) < count:
            assert time.monotonic() < deadline, job_log(log)
            time.sleep(0.05)

    with TestClient(create_app(settings, spool)) as client:
        wait_for(2)  # the event spooled before the start was not applied yet: one run
        assert client.post("/", json=delivery("new"), headers=basic()).status_code == 200
        wait_for(4)
        assert client.post("/", json=delivery("new"), headers=basic()).status_code == 200
        time.sleep(1.0)  # a redelivery is nothing new: no run
    assert len(job_log(log)) == 4
    first, second = runs_of(spool)
    assert (first.reason, second.reason) == ("1 new webhook event(s)", "1 new webhook event(s)")
    assert second.spool_position_at_start == spool.position()


def test_stopping_during_a_run_stops_the_job_and_records_it(spool: Spool, tmp_path: Path) -> None:
    log = tmp_path / "job.log"

    async def scenario() -> float:
        trigger = ApplyTrigger(spool, job(log, seconds=60), Debounce(quiet=0.0, max_wait=0.0))
        trigger.start()
        trigger.notify()
        await until(lambda: len(job_log(log)) == 1)
        started = time.monotonic()
        await trigger.stop()
        return time.monotonic() - started

    seconds = asyncio.run(scenario())
    assert seconds < 30  # SIGTERM, not the 60 s job's end
    [run] = runs_of(spool)
    assert run.exit_code == -15  # the job's exit: killed by SIGTERM
    assert run.finished_at is not None
    assert [entry[0] for entry in job_log(log)] == ["start"]
