"""Faults: retries, rate limits, a killed tap, and notes updated while being paged."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipedrive_sandbox.testing import start_sandbox
from tap_helpers import TAP_EXECUTABLE, catalog_for, run_tap, sandbox_config

STREAMS = ("persons", "organizations", "deals", "activities", "notes", "users", "stages")


def _record_set(run: Any) -> dict[str, set[str]]:
    return {
        stream: {json.dumps(r, sort_keys=True) for r in run.records[stream]} for stream in STREAMS
    }


def test_faults_do_not_change_the_records(shared_sandbox: Any) -> None:
    config = sandbox_config(shared_sandbox, page_size=25)
    clean = run_tap(config)
    control = shared_sandbox.control
    control.set_faults(
        rate_limit={"every": 19, "count": 2},
        server_error={"every": 6},
        drop={"every": 9},
        truncate={"every": 10},
        null_body={"every": 14},
        html_403={"every": 15},
    )
    try:
        faulty = run_tap(config)
        injected = control.stats()["faults_injected"]
    finally:
        control.clear_faults()
    assert set(injected) == {
        "rate_limit",
        "server_error",
        "drop",
        "truncate",
        "null_body",
        "html_403",
    }
    assert sum(injected.values()) >= 10
    assert _record_set(faulty) == _record_set(clean)


def test_killed_tap_resumes_from_its_last_state(sandbox: Any, tmp_path: Path) -> None:
    config = sandbox_config(sandbox, page_size=10)
    catalog = catalog_for(config, {"persons", "notes", "deals"})
    clean = run_tap(config, catalog=catalog)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    process = subprocess.Popen(
        [
            TAP_EXECUTABLE,
            "--config",
            str(tmp_path / "config.json"),
            "--catalog",
            str(tmp_path / "catalog.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in process.stdout:
        seen.append(json.loads(line))
        notes = sum(1 for m in seen if m["type"] == "RECORD" and m["stream"] == "notes")
        # Streams run in name order: deals is done (and its STATE written), notes is halfway.
        if notes == 15:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    states = [m["value"] for m in seen if m["type"] == "STATE"]
    assert states, "deals wrote its state before the kill"
    before: dict[str, set[int]] = defaultdict(set)
    for message in seen:
        if message["type"] == "RECORD":
            before[message["stream"]].add(message["record"]["id"])
    resumed = run_tap(config, state=states[-1], catalog=catalog)
    for stream in ("persons", "notes", "deals"):
        union = before.get(stream, set()) | set(resumed.ids(stream))
        assert union == set(clean.ids(stream)), stream
    assert len(resumed.ids("deals")) < len(clean.ids("deals")), "deals had finished before the kill"


def test_notes_updated_while_paging_are_not_lost() -> None:
    """Offset paging shifts when rows move: two notes of the second being paged are updated
    between two pages, so a plain offset would skip a note. The tap re-reads that second."""
    from tap_pipedrive.tap import TapPipedrive  # noqa: PLC0415

    with start_sandbox(seed=11, scale=300, burst_limit=0, frozen_clock=True) as sandbox:
        control = sandbox.control
        control.advance_clock(10)
        group = [n["id"] for n in control.dataset("notes") if n["active_flag"]][:6]
        for note_id in group:  # one frozen second: six notes share their update_time
            control.update("notes", note_id, {"content": f"<p>{note_id}</p>"})
        start = control.get("notes", group[0])["update_time"].replace(" ", "T") + "Z"
        config = sandbox_config(sandbox, page_size=2, start_date=start)
        tap = TapPipedrive(config=config, catalog=catalog_for(config, {"notes"}))
        stream = tap.streams["notes"]
        shape = stream.post_process
        seen: list[int] = []

        def watch(row: dict[str, Any], context: Any = None) -> Any:
            seen.append(row["id"])
            if len(seen) == 3:
                control.advance_clock(5)
                control.update("notes", seen[0], {"content": "<p>moved</p>"})
                control.update("notes", seen[1], {"content": "<p>moved too</p>"})
            return shape(row, context)

        stream.post_process = watch  # type: ignore[method-assign]
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):
            tap.run_sync()
    assert sorted(set(seen)) == sorted(group)
    assert seen[-2:] == sorted(seen[:2]), "the two updated notes come again at their new time"
