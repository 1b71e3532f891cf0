"""The pieces of tap-cdp that need no database: the bookmark of audience_changes and the wait
for a DuckDB file another process holds."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from tap_cdp.bookmark import ChangeBookmark
from tap_cdp.database import CDPReadError, create_engine, reading
from tap_cdp.streams import catalog_entry
from target_pipedrive.ledger import Ledger

T = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
LATER = T + dt.timedelta(days=1)
#: Another process writing the DuckDB file until its stdin closes.
HOLD = (
    "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('holding', flush=True);"
    " sys.stdin.read(); c.close()"
)


def test_the_bookmark_owes_exactly_the_changes_not_sent() -> None:
    bookmark = ChangeBookmark()
    assert bookmark.owes(T, "b")
    bookmark.advance(T, "b")
    assert not bookmark.owes(T, "b")
    # a rebuild at the same changed_at: an id sorting before the last one sent is still owed
    assert bookmark.owes(T, "a")
    bookmark.advance(LATER, "c")
    assert bookmark.state_entry() == {"changed_at": LATER.isoformat(), "change_ids": ["c"]}
    assert bookmark.owes(LATER + dt.timedelta(seconds=1), "c")


def test_the_bookmark_round_trips_through_the_state() -> None:
    sent_at = {"changed_at": "2026-03-01T00:00:00Z", "change_ids": ["x"]}
    bookmark = ChangeBookmark.from_state("2026-03-01T00:00:00+00:00", sent_at)
    assert not bookmark.owes(T, "x")
    assert bookmark.owes(T, "y")


def test_ids_recorded_for_another_time_are_not_trusted() -> None:
    """A state edited by hand: every change at the bookmark is sent again rather than lost."""
    sent_at = {"changed_at": "2026-02-01T00:00:00Z", "change_ids": ["x"]}
    bookmark = ChangeBookmark.from_state(T.isoformat(), sent_at)
    assert bookmark.owes(T, "x")
    assert ChangeBookmark.from_state(None, None).owes(T - dt.timedelta(days=999), "x")


def test_a_duckdb_file_another_process_holds_is_waited_for(tmp_path: Path) -> None:
    """The tap waits lock_timeout for the file, then says what holds it, in one line."""
    path = tmp_path / "cdp.duckdb"
    duckdb.connect(str(path)).close()
    url = f"duckdb:///{path}"
    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with (
            pytest.raises(CDPReadError, match="another process holds the DuckDB file") as raised,
            reading(
                create_engine(url),
                url,
                lock_timeout=3,
                doing="x",
                clock=lambda: now[0],
                sleep=sleep,
            ),
        ):
            pass
    finally:
        holder.communicate(timeout=60)
    assert "\n" not in str(raised.value)
    assert waits
    assert sum(waits) == pytest.approx(3)


def test_target_pipedrives_ledger_waits_for_the_file_and_releases_it(tmp_path: Path) -> None:
    """`meltano run tap-cdp target-pipedrive` starts both on one DuckDB file: the ledger waits
    while another process holds it, and lets it go after creating its tables."""
    path = tmp_path / "cdp.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    opened: list[Ledger] = []
    thread = threading.Thread(target=lambda: opened.append(Ledger(f"duckdb:///{path}", "cdp", "r")))
    thread.start()
    holder.communicate(timeout=60)  # the other process lets the file go
    thread.join(timeout=120)
    assert opened, "the ledger did not open the file once it was free"
    # released: this process (as tap-cdp would) can open the file read-only
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = conn.execute("select table_name from information_schema.tables").fetchall()
    assert ("writeback_ledger",) in tables


def test_target_pipedrives_ledger_lets_the_file_go_after_each_write(tmp_path: Path) -> None:
    """Between its writes the run holds no DuckDB file: another process can write it."""
    path = tmp_path / "cdp.duckdb"
    ledger = Ledger(f"duckdb:///{path}", "cdp", "r")
    ledger.write_intent("a", "k1", "note", "h", {"body": {}}, (None, None))
    assert ledger.get("a", "k1") is not None
    writer = "import sys, duckdb; duckdb.connect(sys.argv[1]).execute('CREATE TABLE t (x INT)')"
    done = subprocess.run(
        [sys.executable, "-c", writer, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ledger.write_done("a", "k1", 7)
    ledger.dispose()
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute(
            "SELECT pipedrive_id, status FROM cdp.cdp.writeback_ledger"
        ).fetchall() == [(7, "done")]


UNREACHABLE = "postgresql://postgres:secret-pw@127.0.0.1:9/cdp"


@pytest.mark.parametrize(
    ("url", "sync", "expected"),
    [
        (UNREACHABLE, False, "while discovering the CDP tables in postgresql://postgres:***@"),
        (UNREACHABLE, True, "while reading audience changes in postgresql://postgres:***@"),
        (None, True, 'schema "audiences" does not exist; run the dbt build (meltano run dbt:build'),
    ],
)
def test_a_cdp_that_cannot_be_read_is_one_line(
    tmp_path: Path, url: str | None, sync: bool, expected: str
) -> None:
    if url is None:  # a CDP file target-cdp wrote but dbt never built
        duckdb.connect(str(tmp_path / "cdp.duckdb")).execute("CREATE SCHEMA cdp").close()
        url = f"duckdb:///{tmp_path / 'cdp.duckdb'}"
    (tmp_path / "config.json").write_text(json.dumps({"database_url": url}))
    entry = catalog_entry()
    next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]["selected"] = True
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": [entry]}))
    mode = ["--catalog", str(tmp_path / "catalog.json")] if sync else ["--discover"]
    done = subprocess.run(
        [sys.executable, "-m", "tap_cdp", "--config", str(tmp_path / "config.json"), *mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(problems) == 1, done.stderr[-3000:]
    assert "tap-cdp: Database error while" in problems[0]
    assert expected in problems[0]
    assert "secret-pw" not in done.stderr
