"""database_url: a typo fails instead of starting an empty CDP; secrets in it never show;
database errors are one line without the record's values."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import psycopg
import pytest
from target_cdp.database import CDPDatabaseError, masked_url
from target_cdp.settings import database_url_problem, engine_url
from target_messages import person, record, run_target, schema, state, stream_of

SECRETS = ("s3cret-pw", "ssl-s3cret", "tok-s3cret", "key-s3cret", "passfile-s3cret")


def target_cli(tmp_path, config: dict, messages: list[dict]) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "target_cdp", "--config", str(path)],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("database", "problem"),
    [
        ("no-such-dir/sub/warehouse.duckdb", "does not exist"),
        ("a-file/warehouse.duckdb", "is a file, not a directory"),
        ("a-file/sub/warehouse.duckdb", "is a file, not a directory"),
    ],
)
def test_a_duckdb_path_in_no_directory_is_a_setting_error(tmp_path, database, problem):
    (tmp_path / "a-file").write_text("not a directory")
    url = f"duckdb:///{tmp_path / database}"
    result = target_cli(
        tmp_path, {"database_url": url}, [state({"bookmarks": {"persons": "2026-01-01"}})]
    )
    assert result.returncode != 0
    assert result.stdout == ""  # no STATE: the bookmark does not move on
    [line] = [x for x in result.stderr.splitlines() if "Invalid setting `database_url`" in x]
    assert problem in line
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "config.json"]


def test_creating_a_new_cdp_is_logged_once(tmp_path, caplog):
    config = {"database_url": f"duckdb:///{tmp_path / 'new.duckdb'}"}
    with caplog.at_level(logging.INFO):
        run_target(config, stream_of("persons", [person(1, "a@acme.io")]))
    created = [r.getMessage() for r in caplog.records if "new CDP" in r.getMessage()]
    assert len(created) == 1
    assert str(tmp_path / "new.duckdb") in created[0]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        run_target(config, stream_of("persons", [person(2, "b@acme.io")]))
    assert not [r for r in caplog.records if "new CDP" in r.getMessage()]


def test_a_new_postgresql_schema_is_logged_once(make_pg_cdp, caplog):
    cdp = make_pg_cdp()
    with caplog.at_level(logging.INFO):
        cdp.run(stream_of("persons", [person(1, "a@acme.io")]))
        cdp.run(stream_of("persons", [person(2, "b@acme.io")]))
    created = [r.getMessage() for r in caplog.records if "new CDP" in r.getMessage()]
    assert len(created) == 1
    assert cdp.schema in created[0]


@pytest.mark.parametrize(
    "query",
    [
        "password=s3cret-pw",
        "sslpassword=ssl-s3cret&sslmode=disable",
        "sslmode=disable&password=s3cret-pw&sslpassword=ssl-s3cret",
        "passfile=passfile-s3cret",
        "motherduck_token=tok-s3cret",
        "api_key=key-s3cret&application_name=cdp",
    ],
)
def test_secret_query_parameters_are_masked(query):
    masked = masked_url(f"postgresql+psycopg://user:s3cret-pw@db.example/cdp?{query}")
    assert not [s for s in SECRETS if s in masked]
    assert masked.startswith("postgresql+psycopg://user:***@db.example/cdp?")
    for name in (p.split("=")[0] for p in query.split("&")):
        assert f"{name}=" in masked  # which parameters were given stays visible
    if "sslmode" in query:
        assert "sslmode=disable" in masked
    if "application_name" in query:
        assert "application_name=cdp" in masked


def test_a_password_in_the_query_never_reaches_logs_errors_or_sync_runs(make_pg_cdp, caplog):
    cdp = make_pg_cdp()
    cdp.url += "?password=s3cret-pw&sslpassword=ssl-s3cret"  # trust auth: accepted and unused
    with caplog.at_level(logging.DEBUG):
        cdp.run(stream_of("persons", [person(1, "a@acme.io")]))
        cdp.execute("alter table {s}.people add constraint no_boom check (first_name <> 'boom')")
        with pytest.raises(CDPDatabaseError) as error:
            cdp.run(stream_of("persons", [person(2, "b@acme.io", first_name="boom")]))
    assert "password=***" in str(error.value)
    assert "no_boom" in str(error.value)
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert [r["status"] for r in runs] == ["succeeded", "failed"]
    shown = caplog.text + str(error.value) + json.dumps([r["error"] for r in runs])
    assert "password=***" in caplog.text  # the summary names the database
    assert not [s for s in SECRETS if s in shown]


def test_a_password_in_the_query_is_masked_when_the_server_is_unreachable(caplog):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?password=s3cret-pw"
    with caplog.at_level(logging.DEBUG), pytest.raises(CDPDatabaseError) as error:
        run_target({"database_url": url}, stream_of("persons", [person(1, "a@acme.io")]))
    assert "s3cret-pw" not in str(error.value) + caplog.text


def test_a_value_the_database_refuses_is_one_line_without_the_value(cdp, tmp_path):
    """The staging copy (PostgreSQL COPY, DuckDB read_json) refuses a value: one clear line."""
    cdp.run(stream_of("persons", [person(1, "a@acme.io")]))
    cdp.execute("alter table {s}.people alter phone type integer using null")  # in no index
    zanzibar = person(2, "b@acme.io", phones=[{"value": "Zanzibar", "primary": True}])
    messages = [schema("persons"), record("persons", zanzibar)]
    with pytest.raises(CDPDatabaseError) as error:
        cdp.run(messages)
    message = str(error.value)
    assert "\n" not in message
    assert "writing a batch of stream 'persons'" in message
    assert "Zanzibar" not in message
    [*_, run] = cdp.rows("sync_runs", order_by="started_at")
    assert run["status"] == "failed"
    assert "Zanzibar" not in run["error"]
    config = {**cdp.config(), "database_url": cdp.url}
    result = target_cli(tmp_path, config, messages)
    assert result.returncode != 0
    assert "Zanzibar" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("duckdb://", "in-memory"),
        ("duckdb:///:memory:", "in-memory"),
        ("duckdb:///", "in-memory"),
        ("duckdb://output/warehouse.duckdb", "duckdb:///output/warehouse.duckdb"),
        ("duckdb://u:s3cret-pw@output/warehouse.duckdb", "duckdb:///output/warehouse.duckdb"),
        ("postgresql+psycopg://u:s3cret-pw@127.0.0.1:543x/db", "port"),
        ("postgresql+psycopg://u:s3cret-pw@127.0.0.1:99999999/db", "port"),
        ("postgresql+psycopg://u:s3cret-pw@[::1/db", "not a SQLAlchemy URL"),
        ("postgresql+nosuchdriver://u:s3cret-pw@127.0.0.1/db", "nosuchdriver"),
        ("postgresql+psycopg2://u:s3cret-pw@127.0.0.1/db", "the CDP is written with psycopg 3"),
        ("postgresql+asyncpg://u:s3cret-pw@127.0.0.1/db", "write postgresql://"),
        ("s3cret-pw", "not a SQLAlchemy URL"),
    ],
)
def test_a_malformed_database_url_is_one_line(tmp_path, url, problem):
    result = target_cli(
        tmp_path,
        {"database_url": url},
        [schema("persons"), record("persons", person(1, "a@acme.io")), state({"a": 1})],
    )
    assert result.returncode != 0
    assert result.stdout == ""  # no STATE: nothing was stored anywhere
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if "Invalid setting `database_url`" in x]
    assert problem in line


def test_a_postgresql_url_without_a_driver_writes_with_psycopg(tmp_path, make_pg_database):
    """``postgresql://`` (what libpq, psql and most hosts give) is psycopg 3, not SQLAlchemy's
    default psycopg2: that one (installed here by dbt) broke the first bulk write."""
    url = make_pg_database()
    assert url.startswith("postgresql://")
    result = target_cli(
        tmp_path,
        {"database_url": url},
        [schema("persons"), record("persons", person(1, "a@acme.io")), state({"a": 1})],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {"a": 1}
    with psycopg.connect(url) as conn:
        rows = conn.execute("select email, pipedrive_person_id from cdp.people").fetchall()
    assert rows == [("a@acme.io", 1)]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_every_postgresql_url_form_connects_with_psycopg(scheme):
    url = f"{scheme}://writer:s3cret-pw@127.0.0.1:5432/cdp"
    assert database_url_problem(url) is None
    assert engine_url(url).drivername == "postgresql+psycopg"
