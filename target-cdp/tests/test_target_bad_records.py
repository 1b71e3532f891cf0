"""Records the databases cannot hold are rejected with a reason naming the field; never fatal.

Each case puts one bad record between two good ones of the same stream and batch, on DuckDB
and PostgreSQL: the good ones are stored, the bad one is in ``rejected_records`` (kept in a
form the database can hold) with a reason naming the field and the problem, and a rerun of
the same input neither fails nor stores anything twice.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from target_cdp import storable
from target_cdp.target import TargetCDP
from target_database import CDP
from target_messages import (
    deal,
    note,
    organization,
    pd_activity,
    person,
    record,
    schema,
    stream_of,
)

INT64 = 2**63


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"inner": value}
    return value


GOOD = {
    "persons": lambda i: person(i, f"p{i}@acme.io"),
    "organizations": organization,
    "deals": deal,
    "notes": note,
    "activities": pd_activity,
    "users": lambda i: {"id": i, "name": f"User {i}", "email": f"u{i}@acme.io"},
    "stages": lambda i: {"id": i, "name": f"S{i}", "pipeline_id": 1, "order_nr": i},
}

#: (stream, the bad record, fields the SCHEMA leaves untyped, field named, problem named)
CASES = {
    "lone surrogate": (
        "persons",
        person(2, "b@acme.io", first_name="Ann\ud800"),
        (),
        "first_name",
        "UTF-8",
    ),
    "invalid UTF-8 read with surrogateescape": (
        "organizations",
        organization(2, name="M\udcfcller"),
        (),
        "name",
        "UTF-8",
    ),
    "surrogate in a custom field": (
        "deals",
        deal(2, custom_fields={"tier": ["gold", "\udfff"]}),
        (),
        "custom_fields.tier[1]",
        "UTF-8",
    ),
    "surrogate in a key": ("notes", note(2, custom={"k\ud800": 1}), ("custom",), "custom", "UTF-8"),
    "deep JSON": ("organizations", organization(2, address=nested(300)), (), "address", "nested"),
    "time before year 1 in UTC": (
        "deals",
        deal(2, add_time="0001-01-01T00:00:00+05:00"),
        (),
        "add_time",
        "out of range",
    ),
    "time after year 9999 in UTC": (
        "persons",
        person(2, "b@acme.io", update_time="9999-12-31T23:59:59-05:00"),
        (),
        "update_time",
        "out of range",
    ),
    "activity done time out of range": (
        "activities",
        pd_activity(2, done=True, marked_as_done_time="9999-12-31T23:59:59-05:00"),
        (),
        "marked_as_done_time",
        "out of range",
    ),
    "id at 2^63": ("persons", person(INT64, "b@acme.io"), (), "id", "64-bit"),
    "reference at 2^63": ("deals", deal(2, person_id=INT64), (), "person_id", "64-bit"),
    "reference below -2^63": ("notes", note(2, deal_id=-INT64 - 1), (), "deal_id", "64-bit"),
    "huge number in an attribute": (
        "persons",
        person(2, "b@acme.io", label_ids=[1, 10**30]),
        (),
        "label_ids[1]",
        "64-bit",
    ),
    "NaN in an attribute": (
        "organizations",
        organization(2, score=float("nan")),
        ("score",),
        "score",
        "finite",
    ),
    "Infinity in a custom field": (
        "persons",
        person(2, "b@acme.io", custom_fields={"tier": float("inf")}),
        (),
        "custom_fields.tier",
        "finite",
    ),
    "number beyond double range": (
        "deals",
        deal(2, probability=10**400),
        ("probability",),
        "probability",
        "64-bit",
    ),
    "10 MB text": ("notes", note(2, content="x" * 10_000_000), (), "content", "too large"),
    "deal value true": ("deals", deal(2, value=True), ("value",), "value", "number"),
    "deal value with underscores": ("deals", deal(2, value="1_000"), ("value",), "value", "number"),
    "deal value NaN": ("deals", deal(2, value=float("nan")), (), "value", "finite"),
    "text column given an object": (
        "deals",
        deal(2, title={"en": "Deal"}),
        ("title",),
        "title",
        "string",
    ),
    "boolean column given a string": (
        "deals",
        deal(2, is_archived="no"),
        ("is_archived",),
        "is_archived",
        "boolean",
    ),
    "catalog name with a surrogate": (
        "users",
        {"id": 2, "name": "\ud83d", "email": None},
        (),
        "name",
        "UTF-8",
    ),
    "catalog integer column given a string": (
        "stages",
        {"id": 2, "name": "S2", "pipeline_id": 1, "order_nr": "first"},
        ("order_nr",),
        "order_nr",
        "integer",
    ),
}


def loose(stream: str, fields: tuple[str, ...]) -> dict:
    """The stream's SCHEMA with these fields untyped (a permissive tap)."""
    message = schema(stream)
    for name in fields:
        message["schema"]["properties"][name] = {}
    return message


def stored_ids(cdp, stream: str) -> list[int]:
    if stream in ("users", "stages"):
        return [row["id"] for row in cdp.rows(stream, order_by="id")]
    return [
        row["pipedrive_id"]
        for row in cdp.rows(
            "pipedrive_records", order_by="pipedrive_id", where=f"stream = '{stream}'"
        )
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_is_rejected_and_its_batch_is_stored(cdp, case):
    stream, bad, untyped, field, problem = CASES[case]
    messages = [
        loose(stream, untyped),
        *(record(stream, r) for r in (GOOD[stream](1), bad, GOOD[stream](3))),
    ]
    cdp.run(messages)
    assert stored_ids(cdp, stream) == [1, 3]
    [rejected] = cdp.rows("rejected_records")
    assert rejected["stream"] == stream
    assert rejected["record_key"] == str(bad["id"])
    assert rejected["reason"].startswith(f"{field} ")
    assert problem in rejected["reason"]
    assert "\n" not in rejected["reason"]
    assert rejected["raw_record"]["id"] == bad["id"] or rejected["raw_record"]["id"] == str(
        bad["id"]
    )
    [run] = cdp.rows("sync_runs")
    assert run["status"] == "succeeded"
    assert run["counts"][stream]["rejected"] == 1
    cdp.run(messages)
    assert len(cdp.rows("rejected_records")) == 1
    assert stored_ids(cdp, stream) == [1, 3]


def test_rejected_records_keep_what_the_database_cannot_hold_escaped(cdp):
    bad = person(
        2,
        "b@acme.io",
        first_name="Ann\ud800",
        last_name="Nul\x00",
        label_ids=[10**30],
        custom_fields={"tier": float("nan"), "notes": "y" * 3_000_000, "deep": nested(300)},
    )
    cdp.run(stream_of("persons", [person(1, "a@acme.io"), bad]))
    [rejected] = cdp.rows("rejected_records")
    raw = rejected["raw_record"]
    assert raw["first_name"] == "Ann\\ud800"
    assert raw["last_name"] == "Nul\\u0000"
    assert raw["label_ids"] == ["1000000000000000000000000000000"]
    assert raw["custom_fields"]["tier"] == "NaN"
    assert raw["custom_fields"]["notes"].startswith("y" * 1000)
    assert raw["custom_fields"]["notes"].endswith("[cut: 3000000 characters in all]")
    depth, node = 0, raw["custom_fields"]["deep"]
    while isinstance(node, dict):
        depth, node = depth + 1, node["inner"]
    assert isinstance(node, str)
    assert node.endswith('"bottom"' + "}" * (300 - depth))


def test_nul_characters_are_removed_from_stored_text(cdp):
    cdp.run(
        stream_of(
            "persons", [person(1, "a@acme.io", first_name="A\x00nn", custom_fields={"t": "x\x00"})]
        )
    )
    [row] = cdp.rows("people")
    assert row["first_name"] == "Ann"
    assert cdp.rows("rejected_records") == []


def test_invalid_utf8_input_is_rejected_per_record_whatever_the_locale(tmp_path):
    lines = [
        json.dumps(schema("users")).encode(),
        json.dumps(record("users", GOOD["users"](1))).encode(),
        json.dumps(record("users", GOOD["users"](2))).encode().replace(b"User 2", b"M\xfcller"),
        json.dumps(record("users", GOOD["users"](3))).encode(),
    ]
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database_url": url}))
    result = subprocess.run(
        [sys.executable, "-m", "target_cdp", "--config", str(config)],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        # A UTF-8 locale other than C.UTF-8 decodes stdin strictly.
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    cdp = CDP(url, "cdp")
    assert [row["id"] for row in cdp.rows("users", order_by="id")] == [1, 3]
    [rejected] = cdp.rows("rejected_records")
    assert rejected["reason"] == "name is not valid UTF-8 text: 'M\\udcfcller'"
    assert rejected["raw_record"]["name"] == "M\\udcfcller"


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("1e400", "probability is too large a number to store: Decimal('1E+400')"),
        ("-Infinity", "probability is not a finite number: -inf"),
    ],
)
def test_number_literals_no_database_holds_are_rejected(cdp, literal, reason):
    text = "".join(
        json.dumps(message).replace('"LITERAL"', literal) + "\n"
        for message in [
            loose("deals", ("probability",)),
            record("deals", deal(1)),
            record("deals", deal(2, probability="LITERAL")),
        ]
    )
    with contextlib.redirect_stdout(io.StringIO()):
        TargetCDP(config=cdp.config()).listen(io.StringIO(text))
    assert stored_ids(cdp, "deals") == [1]
    [rejected] = cdp.rows("rejected_records")
    assert rejected["reason"] == reason
    assert rejected["raw_record"]["probability"] == literal.replace("1e400", "1E+400")


def test_a_batch_of_large_records_fits_the_default_duckdb_memory_limit(duck):
    big = "x" * (storable.MAX_RECORD_BYTES - 10_000)
    messages = stream_of("persons", [person(i, f"p{i}@acme.io", first_name=big) for i in range(8)])
    duck.run(messages)
    assert len(duck.rows("people")) == 8
    assert duck.rows("rejected_records") == []
    [run] = duck.rows("sync_runs")
    assert run["counts"]["persons"]["inserted"] == 8
