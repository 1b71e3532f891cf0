"""cdp-view's pure policies: settings checks with the plugin's messages, access, Meltano files."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cdp_view import access, queries
from cdp_view.meltano import MeltanoProject
from cdp_view.reader import CDPReader
from cdp_view.receiver import ReceiverStatus
from cdp_view.settings_form import (
    TAP,
    TARGET,
    WRITEBACK,
    SettingRefusedError,
    changes,
    check_target,
    form_values,
    needs_resync,
    parse_form,
)
from target_cdp.tables import build_tables, migrate
from view_helpers import ROOT, make_project

FORM = {
    "merge_strategy": "overwrite_existing",
    "writable_fields_all": "on",
    "writable_fields": "",
    "email_permission_field": "",
    "email_permission_values": "true\nyes\n1\nsubscribed\nopted in",
    "sms_permission_field": "",
    "sms_permission_values": "true\nyes\n1\nsubscribed\nopted in",
    "activity_retention_days": "90",
    "activity_retention_overrides": "",
    "include_custom_fields": "on",
}
SELECT = ["persons.*", "deals.*", "person_changelog.*"]


def _submit(**fields: str) -> dict[str, dict]:
    return parse_form(
        {**FORM, **fields}, streams=["persons", "deals"], current_select=SELECT, writeback=False
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"merge_strategy": "newest_wins"}, "Invalid setting `merge_strategy`"),
        ({"activity_retention_days": "-5"}, "-5 is less than the minimum of 0"),
        ({"activity_retention_days": "ninety"}, "'ninety' is not of type 'integer'"),
        ({"activity_retention_overrides": "pipedrive.deal.* = soon"}, "'soon'"),
        ({"activity_retention_overrides": "no equals sign"}, "is not of type 'object'"),
        ({"writable_fields_all": None, "writable_fields": "email\nshoe_size"}, "'shoe_size'"),
    ],
)
def test_a_bad_value_is_refused_with_the_targets_message(fields: dict, message: str) -> None:
    form = {k: v for k, v in {**FORM, **fields}.items() if v is not None}
    submitted = parse_form(form, streams=[], current_select=SELECT, writeback=False)
    with pytest.raises(SettingRefusedError, match=message):
        check_target(submitted[TARGET])


def test_good_values_pass_and_only_changes_are_written() -> None:
    submitted = _submit(
        merge_strategy="append_only",
        activity_retention_overrides="pipedrive.deal.* = 30\npipedrive.note.added = forever",
    )
    check_target(submitted[TARGET])
    current = {
        TARGET: {"merge_strategy": "overwrite_existing"},
        TAP: {
            "include_custom_fields": True,
            "_select": ["deals.*", "persons.*", "person_changelog.*"],
        },
    }
    written = {(c.plugin, c.name): c.value for c in changes(current, submitted)}
    assert written == {
        (TARGET, "merge_strategy"): "append_only",
        (TARGET, "activity_retention_overrides"): {
            "pipedrive.deal.*": 30,
            "pipedrive.note.added": "forever",
        },
    }
    assert needs_resync(changes(current, submitted))


def test_unchecking_a_stream_keeps_patterns_the_form_does_not_show() -> None:
    submitted = parse_form(FORM, streams=["deals"], current_select=SELECT, writeback=False)
    assert submitted[TAP]["_select"] == ["person_changelog.*", "deals.*"]
    current = {TARGET: {}, TAP: {"include_custom_fields": True, "_select": SELECT}}
    (change,) = changes(current, submitted)
    assert change.name == "_select"
    assert not needs_resync([change])


@pytest.mark.parametrize(
    ("current", "form", "written"),
    [
        ({}, {}, {(WRITEBACK, "enabled"): False}),  # on by default, box unticked: off
        ({}, {"writeback_enabled": "on"}, {}),  # on, and left on: nothing written
        ({"enabled": False}, {"writeback_enabled": "on"}, {(WRITEBACK, "enabled"): True}),
    ],
)
def test_the_write_back_switch_writes_target_pipedrives_enabled(
    current: dict, form: dict, written: dict
) -> None:
    submitted = parse_form({**FORM, **form}, streams=[], current_select=[], writeback=True)
    plugins = {TARGET: {}, TAP: {"include_custom_fields": True, "_select": []}}
    found = changes({**plugins, WRITEBACK: current}, submitted)
    assert {(c.plugin, c.name): c.value for c in found if c.plugin == WRITEBACK} == written
    without = parse_form({**FORM, **form}, streams=[], current_select=[], writeback=False)
    assert WRITEBACK not in without  # no write-back loader in the project: no switch


def test_listening_beyond_loopback_needs_a_password() -> None:
    access.check_listen("127.0.0.1", None)
    access.check_listen("::1", None)
    access.check_listen("0.0.0.0", "secret")
    with pytest.raises(access.UnsafeListenError, match="password"):
        access.check_listen("0.0.0.0", None)
    with pytest.raises(access.UnsafeListenError):
        access.check_listen("192.168.1.5", "")


def test_password_check() -> None:
    basic = "Basic " + base64.b64encode(b"anyone:pw").decode()
    assert access.authorized(None, None)
    assert access.authorized(basic, "pw")
    assert access.authorized("Bearer pw", "pw")
    assert not access.authorized(None, "pw")
    assert not access.authorized("Bearer pw2", "pw")
    assert not access.authorized("Basic !!!", "pw")
    assert not access.authorized("Basic " + base64.b64encode(b"pw:").decode(), "pw")


def test_schedules_of_the_tap_and_their_next_run(tmp_path: Path) -> None:
    project = MeltanoProject(make_project(tmp_path), "dev", str(ROOT / ".venv/bin/meltano"))
    (schedule,) = project.schedules_of("tap-pipedrive")
    assert schedule.name == "sync-cdp-every-15-minutes"
    assert schedule.extractors == ("tap-pipedrive",)
    now = dt.datetime(2026, 3, 1, 10, 7, tzinfo=dt.UTC)
    assert schedule.next_run(now) == dt.datetime(2026, 3, 1, 10, 15, tzinfo=dt.UTC)
    assert project.schedules_of("tap-pipedrive-sales-pipeline") == []
    assert "persons.*" in project.select_patterns("tap-pipedrive")


def test_no_writable_field_is_not_shown_as_every_field() -> None:
    assert form_values({})["writable_fields_all"] == "on"
    assert form_values({"writable_fields": []})["writable_fields_all"] == ""
    assert form_values({"writable_fields": ["email"]})["writable_fields"] == "email"


def test_a_cdp_migrated_by_another_target_version_is_read(tmp_path: Path) -> None:
    """The view selects the columns it shows, so a CDP lacking one the installed target-cdp
    defines (written by an older version, migrated at its next run) still reads."""
    url = f"duckdb:///{tmp_path / 'older.duckdb'}"
    engine = sa.create_engine(url)
    tables = build_tables("older.cdp")
    migrate(engine, tables)
    with engine.begin() as conn:
        for table in (tables.people, tables.activities, tables.sync_runs):
            conn.exec_driver_sql(f"ALTER TABLE older.cdp.{table.name} ADD COLUMN only_here INT")
        conn.exec_driver_sql("ALTER TABLE older.cdp.people DROP COLUMN pipedrive_deleted_at")
        conn.exec_driver_sql("ALTER TABLE older.cdp.activities DROP COLUMN source_record")
        conn.exec_driver_sql(
            "INSERT INTO older.cdp.people (person_id, email, pipedrive_person_id, is_deleted) "
            "VALUES ('p1', 'ann@x.io', 1, false)"
        )
        conn.exec_driver_sql(
            "INSERT INTO older.cdp.activities (activity_key, activity_type, person_id, "
            "occurred_at) VALUES ('k1', 'pipedrive.person.created', 'p1', now())"
        )
    engine.dispose()
    reader = CDPReader(url, "cdp")
    with reader.connect() as conn:
        assert queries.person(conn, reader.tables, "p1")["email"] == "ann@x.io"
        feed = queries.activity_feed(
            conn, reader.tables, activity_type=None, person_id="p1", cursor=None
        )
        assert [row["activity_key"] for row in feed.rows] == ["k1"]
        assert queries.sync_status(conn, reader.tables)["succeeded"] is None
    reader.dispose()


def test_nested_retention_overrides_read_back_as_entered() -> None:
    # How Meltano hands back `pipedrive.note.added = 30` (dots as nesting); the target reads
    # both spellings alike, so the form shows the dotted one and writes nothing again.
    nested = {"pipedrive": {"note": {"added": 30}, "deal": {"*": "forever"}}}
    shown = form_values({"activity_retention_overrides": nested})["activity_retention_overrides"]
    assert set(shown.splitlines()) == {"pipedrive.note.added = 30", "pipedrive.deal.* = forever"}
    submitted = _submit(activity_retention_overrides=shown)
    current = {TARGET: {"activity_retention_overrides": nested}, TAP: {"_select": []}}
    assert [c.name for c in changes(current, submitted) if c.plugin == TARGET] == []
    changed = _submit(activity_retention_overrides="pipedrive.note.added = 7")
    (change,) = [c for c in changes(current, changed) if c.plugin == TARGET]
    assert change.value == {"pipedrive.note.added": 7}


def test_tokens_per_day_from_api_usage(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'usage.duckdb'}"
    engine = sa.create_engine(url)
    tables = build_tables("usage.cdp")
    migrate(engine, tables)
    day = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    runs = [(day - dt.timedelta(days=40), 999), (day - dt.timedelta(days=1), 50)]
    runs += [(day + dt.timedelta(hours=h), 10 * h) for h in (1, 2, 23)]
    with engine.begin() as conn:
        conn.execute(
            tables.api_usage.insert(),
            [{"run_id": f"r{i}", "started_at": at, "tokens": t} for i, (at, t) in enumerate(runs)],
        )
    engine.dispose()
    reader = CDPReader(url, "cdp")
    with reader.connect() as conn:
        days = queries.tokens_per_day(conn, reader.tables, day.date())
        today = queries.tokens_per_day(conn, reader.tables, day.date(), days=1)
    reader.dispose()
    assert [(d["day"].isoformat(), d["tokens"], d["runs"]) for d in days] == [
        ("2026-03-09", 50, 1),
        ("2026-03-10", 260, 3),
    ]
    assert [(d["tokens"], d["runs"]) for d in today] == [(260, 3)]


def test_receiver_status_is_checked_in_the_background_and_kept_a_while() -> None:
    now = [0.0]
    calls: list[str] = []
    answered = threading.Event()

    def check() -> str:
        calls.append("status")
        answered.set()
        return f"status #{len(calls)}"

    status = ReceiverStatus(check, clock=lambda: now[0], max_age=60)
    assert status.current() is None  # the first look starts a check
    assert answered.wait(30)
    deadline = time.monotonic() + 30
    while status.current() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert status.current().text == "status #1"
    now[0] = 59.0
    assert status.current().text == "status #1"
    assert calls == ["status"], "not checked again within max_age"
    status.forget()
    answered.clear()
    now[0] = 61.0
    assert status.current() is None
    assert answered.wait(30)
    deadline = time.monotonic() + 30
    while status.current() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert status.current().text == "status #2"


def test_search_matches_wildcard_characters_literally(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'search.duckdb'}"
    engine = sa.create_engine(url)
    tables = build_tables("search.cdp")
    migrate(engine, tables)
    people = [("p1", "a_b@x.io", "Ann"), ("p2", "axb@x.io", "Bob"), ("p3", "c@x.io", "50% Off")]
    with engine.begin() as conn:
        conn.execute(
            tables.people.insert(),
            [
                {"person_id": pid, "email": email, "first_name": name, "pipedrive_person_id": i}
                for i, (pid, email, name) in enumerate(people)
            ],
        )
    engine.dispose()
    reader = CDPReader(url, "cdp")
    with reader.connect() as conn:

        def found(text: str) -> list[str]:
            page = queries.people(conn, reader.tables, search=text, cursor=None)
            return [row["person_id"] for row in page.rows]

        assert found("a_b") == ["p1"]
        assert found("A") == ["p1", "p2"]
        assert found("0% o") == ["p3"]
        assert found("ann") == ["p1"]
    reader.dispose()
