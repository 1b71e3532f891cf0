"""SIGTERM and SIGINT: never a STATE past uncommitted work, a non-zero exit, an aborted run.

Each test runs the real target-cdp command in a subprocess (``paused_target.py``), paused at a
chosen point of its work, delivers the signal there, then checks what a scheduler and the next
run see: the STATE lines on stdout, the exit code, one line on stderr, the ``sync_runs`` row,
and that a rerun stores everything.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from target_messages import VERSION, activate, lines, person, record, schema, state, ts

PAUSED_TARGET = Path(__file__).with_name("paused_target.py")
STORE = "target_cdp.snapshots:PipedriveRecords.store"
WRITTEN = "target_cdp.sinks.base:CDPSink.process_batch"
PURGE = "target_cdp.activity_log:ActivityLog.purge"
STARTED = "target_cdp.run:Run.start"
FINISHED = "target_cdp.run:Run.finish"


def persons_in_pairs(version: int | None = None) -> list[dict]:
    """Six persons, a STATE after every two (batches of two are written as they fill)."""
    messages = [schema("persons")]
    for pid in range(1, 7):
        messages.append(record("persons", person(pid, f"p{pid}@acme.io"), version))
        if pid % 2 == 0:
            messages.append(state({"persons": pid}))
    return messages


class PausedTarget:
    """target-cdp running in a subprocess, paused after the ``calls``-th call of ``where``."""

    def __init__(
        self, cdp, tmp_path: Path, messages: list[dict], where: str, calls: int, **settings
    ) -> None:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(cdp.config(batch_size_rows=2, **settings)))
        source = tmp_path / "input.jsonl"
        source.write_text(lines(messages))
        self.marker = tmp_path / "paused"
        self.marker.unlink(missing_ok=True)
        with source.open() as stdin:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(PAUSED_TARGET),
                    where,
                    str(calls),
                    str(self.marker),
                    "--",
                    "--config",
                    str(config),
                ],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

    def wait_until_paused(self) -> None:
        """Return once the target is paused (it stays there until signalled)."""
        deadline = time.monotonic() + 120
        while not self.marker.exists():
            if self.process.poll() is not None:
                pytest.fail(f"target-cdp ended before pausing:\n{self.process.stderr.read()}")
            assert time.monotonic() < deadline, "target-cdp never reached the pause"
            time.sleep(0.02)

    def stop(self, signum: int) -> tuple[int, list[dict], str]:
        """Deliver the signal; return the exit code, the STATE values emitted and stderr."""
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=120)
        return self.process.returncode, [json.loads(x) for x in out.splitlines()], err


def stopped_lines(stderr: str, signum: int) -> list[str]:
    name = signal.Signals(signum).name
    return [line for line in stderr.splitlines() if f"stopped by {name}" in line]


def assert_stopped(code: int, stderr: str, signum: int) -> None:
    """Exit 128 + signal number, one line saying so, no traceback."""
    assert code == 128 + signum, stderr
    assert len(stopped_lines(stderr, signum)) == 1, stderr
    assert "Traceback" not in stderr


def people_committed(cdp) -> int:
    """People stored so far (0 before the target has created its schema)."""
    try:
        return cdp.query("select count(*) as n from {s}.people")[0]["n"]
    except sa.exc.ProgrammingError:
        return 0


def linked_ids(cdp) -> list[int]:
    return [p["pipedrive_person_id"] for p in cdp.rows("people", order_by="pipedrive_person_id")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_a_batch_rolls_it_back_and_emits_no_state(cdp, tmp_path, signum):
    messages = persons_in_pairs()
    target = PausedTarget(cdp, tmp_path, messages, STORE, calls=2)  # the second batch, written
    target.wait_until_paused()
    code, states, stderr = target.stop(signum)
    assert_stopped(code, stderr, signum)
    assert states == []
    assert linked_ids(cdp) == [1, 2]  # the first batch committed, the second rolled back
    [run] = cdp.rows("sync_runs")
    assert run["status"] == "aborted"
    assert signal.Signals(signum).name in run["error"]
    assert run["finished_at"] is not None
    assert run["counts"]["persons"]["inserted"] == 2  # what was committed
    assert cdp.run(messages) == [{"persons": 6}]
    assert linked_ids(cdp) == [1, 2, 3, 4, 5, 6]
    statuses = [r["status"] for r in cdp.rows("sync_runs", order_by="started_at")]
    assert statuses == ["aborted", "succeeded"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_just_after_the_run_row_is_committed_closes_it(cdp, tmp_path, signum):
    messages = persons_in_pairs()
    target = PausedTarget(cdp, tmp_path, messages, STARTED, calls=1)
    target.wait_until_paused()
    code, states, stderr = target.stop(signum)
    assert_stopped(code, stderr, signum)
    assert states == []
    [run] = cdp.rows("sync_runs")
    assert (run["status"], run["error"]) == ("aborted", f"stopped by {signal.Signals(signum).name}")
    assert run["finished_at"] is not None
    assert linked_ids(cdp) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_after_the_run_succeeded_changes_nothing(cdp, tmp_path, signum):
    messages = persons_in_pairs()
    target = PausedTarget(cdp, tmp_path, messages, FINISHED, calls=1)
    target.wait_until_paused()
    code, states, stderr = target.stop(signum)
    assert code == 0, stderr
    assert states == [{"persons": 6}]
    assert stopped_lines(stderr, signum) == []  # nothing was rolled back
    assert "after the run was recorded succeeded" in stderr
    assert "Traceback" not in stderr
    [run] = cdp.rows("sync_runs")
    assert (run["status"], run["error"]) == ("succeeded", None)
    assert run["counts"]["persons"]["inserted"] == 6
    assert linked_ids(cdp) == [1, 2, 3, 4, 5, 6]


def test_a_signal_between_batches_emits_no_state(duck, tmp_path):
    messages = persons_in_pairs()
    target = PausedTarget(duck, tmp_path, messages, WRITTEN, calls=1)  # batch 1 committed
    target.wait_until_paused()
    code, states, stderr = target.stop(signal.SIGTERM)
    assert_stopped(code, stderr, signal.SIGTERM)
    assert states == []
    assert linked_ids(duck) == [1, 2]
    assert [r["status"] for r in duck.rows("sync_runs")] == ["aborted"]
    assert duck.run(messages) == [{"persons": 6}]
    assert linked_ids(duck) == [1, 2, 3, 4, 5, 6]


def test_a_signal_during_the_end_of_run_purge_keeps_the_state_of_committed_work(duck, tmp_path):
    messages = persons_in_pairs()
    target = PausedTarget(duck, tmp_path, messages, PURGE, calls=1)
    target.wait_until_paused()
    code, states, stderr = target.stop(signal.SIGTERM)
    assert_stopped(code, stderr, signal.SIGTERM)
    assert states == [{"persons": 6}]  # every batch was committed before the purge began
    assert linked_ids(duck) == [1, 2, 3, 4, 5, 6]
    [run] = duck.rows("sync_runs")
    assert (run["status"], run["counts"]["persons"]["inserted"]) == ("aborted", 6)


def test_a_signal_during_activate_version_rolls_back_the_retirement(duck, tmp_path):
    duck.run(
        [
            schema("persons"),
            *(record("persons", person(pid, f"p{pid}@acme.io"), VERSION) for pid in (1, 2, 3, 4)),
            activate("persons", VERSION),
        ]
    )
    second = [
        schema("persons"),
        *(record("persons", person(pid, f"p{pid}@acme.io"), VERSION + 1000) for pid in (1, 2)),
        activate("persons", VERSION + 1000),
        state({"persons": "second"}),
    ]
    # PipedriveRecords.store: the batch of persons 1-2 (unchanged: no call), then the retirement
    target = PausedTarget(duck, tmp_path, second, STORE, calls=1)
    target.wait_until_paused()
    code, states, stderr = target.stop(signal.SIGTERM)
    assert_stopped(code, stderr, signal.SIGTERM)
    assert states == []
    assert [p["is_deleted"] for p in duck.rows("people", order_by="pipedrive_person_id")] == [
        False
    ] * 4
    assert duck.run(second) == [{"persons": "second"}]
    deleted = [p["is_deleted"] for p in duck.rows("people", order_by="pipedrive_person_id")]
    assert deleted == [False, False, True, True]


def test_a_killed_run_is_closed_as_aborted_by_the_next_run(cdp, tmp_path):
    messages = persons_in_pairs()
    target = PausedTarget(cdp, tmp_path, messages, STORE, calls=2)
    target.wait_until_paused()
    code, states, _ = target.stop(signal.SIGKILL)
    assert (code, states) == (-signal.SIGKILL, [])
    assert [r["status"] for r in cdp.rows("sync_runs")] == ["running"]
    assert cdp.run(messages) == [{"persons": 6}]
    killed, rerun = cdp.rows("sync_runs", order_by="started_at")
    assert (killed["status"], killed["finished_at"]) == ("aborted", None)
    assert rerun["run_id"] in killed["error"]
    assert rerun["status"] == "succeeded"
    assert linked_ids(cdp) == [1, 2, 3, 4, 5, 6]


@pytest.mark.postgres
def test_a_run_still_going_in_another_process_is_not_closed(make_pg_cdp, tmp_path):
    cdp = make_pg_cdp()
    target = PausedTarget(cdp, tmp_path, persons_in_pairs(), STORE, calls=2)
    target.wait_until_paused()
    cdp.run([schema("persons"), record("persons", person(7, "p7@acme.io"))])
    statuses = {r["status"] for r in cdp.rows("sync_runs")}
    assert statuses == {"running", "succeeded"}  # the paused run is alive: left running
    code, _, stderr = target.stop(signal.SIGTERM)
    assert_stopped(code, stderr, signal.SIGTERM)
    assert sorted(r["status"] for r in cdp.rows("sync_runs")) == ["aborted", "succeeded"]


@pytest.mark.postgres
def test_a_signal_while_waiting_on_postgresql_cancels_the_statement(make_pg_cdp, tmp_path):
    cdp = make_pg_cdp()
    cdp.run([schema("persons"), record("persons", person(1, "p1@acme.io"))])
    changed = [
        schema("persons"),
        record("persons", person(1, "p1@acme.io", first_name="New", update_time=ts(1))),
        state({"persons": 1}),
    ]
    database = cdp.url.replace("postgresql+psycopg://", "postgresql://")
    with (
        psycopg.connect(database) as blocker,
        psycopg.connect(database, autocommit=True) as observer,
    ):
        blocker.execute(f"select * from {cdp.schema}.people for update")  # holds the row
        process = PausedTarget(cdp, tmp_path, changed, WRITTEN, calls=99).process
        deadline = time.monotonic() + 120
        while not observer.execute(
            "select 1 from pg_stat_activity where wait_event_type = 'Lock' "
            "and datname = current_database()"
        ).fetchone():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "target-cdp never waited on the locked row"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)  # returns while the row is still locked
        blocker.rollback()
    assert_stopped(process.returncode, err, signal.SIGTERM)
    assert out == ""
    assert [p["first_name"] for p in cdp.rows("people")] == ["Person"]
    assert [r["status"] for r in cdp.rows("sync_runs", order_by="started_at")] == [
        "succeeded",
        "aborted",
    ]


@pytest.mark.postgres
def test_a_signal_while_waiting_for_input_stops_without_state(make_pg_cdp, tmp_path):
    """The usual case: the tap is slow or stalled, the orchestrator cancels the pipeline."""
    cdp = make_pg_cdp()
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cdp.config(batch_size_rows=2)))
    process = subprocess.Popen(
        [sys.executable, "-m", "target_cdp", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdin.write(lines(persons_in_pairs()[:4]))  # persons 1-2 (a full batch) and a STATE
    process.stdin.flush()
    deadline = time.monotonic() + 120
    while people_committed(cdp) < 2:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "target-cdp never committed the first batch"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # the target now waits for more input
    out, err = process.communicate(timeout=60)
    assert_stopped(process.returncode, err, signal.SIGTERM)
    assert out == ""
    assert [r["status"] for r in cdp.rows("sync_runs")] == ["aborted"]
