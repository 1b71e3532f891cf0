"""singer-sdk's standard target tests that apply to a CDP target, on DuckDB and PostgreSQL.

target-cdp does not make one table per stream: the SDK's canned streams (``test_*``) are unknown
to it, so their records must land in ``rejected_records`` without crashing. That is what those
suites check here. The suites about Pipedrive-shaped data (duplicates, schema updates) are
re-run on ``persons`` with content assertions.

Not included: ``multiple_state_messages`` (disabled upstream); ``record_missing_key_property``
as written upstream (it expects a crash, while target-cdp keeps such a record in
``rejected_records``; ``RecordMissingKeyPropertyIsRejected`` checks that instead).
"""

from __future__ import annotations

import io
import uuid

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetArrayData,
    TargetCamelcaseComplexSchema,
    TargetCliPrintsTest,
    TargetEncodedStringData,
    TargetInvalidSchemaTest,
    TargetNoPrimaryKeys,
    TargetRecordBeforeSchemaTest,
    TargetSchemaNoProperties,
    TargetSchemaUpdates,
    TargetSpecialCharsInAttributes,
)
from singer_sdk.testing.templates import TargetFileTestTemplate, TargetTestTemplate
from target_cdp.target import TargetCDP
from target_database import CDP
from target_messages import lines, person, record, schema, ts


def _cdp(runner: TargetTestRunner) -> CDP:
    return CDP(runner.config["database_url"], runner.config["schema"])


class RecordMissingKeyPropertyIsRejected(TargetFileTestTemplate):
    """A record without its key property is kept in ``rejected_records``; the run goes on."""

    name = "record_missing_key_property"

    def validate(self) -> None:
        [rejected] = _cdp(self.runner).rows("rejected_records")
        assert rejected["stream"] == "test_record_missing_key_property"
        assert rejected["raw_record"] == {"metric": 8214}


class UnknownStreamsAreRejected(TargetFileTestTemplate):
    """Every record of an unknown stream is kept in rejected_records (the SDK duplicate_records)."""

    name = "duplicate_records"

    def validate(self) -> None:
        rows = _cdp(self.runner).rows("rejected_records")
        assert {r["stream"] for r in rows} == {"test_duplicate_records"}
        assert len(rows) == 5  # five distinct raw records, nothing lost


class PipedriveDuplicateRecords(TargetTestTemplate):
    """The same person twice in a stream becomes one CDP person with the newest values."""

    name = "pipedrive_duplicate_records"

    def test(self) -> None:
        messages = [
            schema("persons"),
            record("persons", person(1, "a@acme.io", first_name="Old", update_time=ts(3))),
            record("persons", person(2, "b@acme.io")),
            record("persons", person(1, "a@acme.io", first_name="New", update_time=ts(2))),
        ]
        self.runner.input_io = io.StringIO(lines(messages))
        self.runner.sync_all()

    def validate(self) -> None:
        rows = _cdp(self.runner).rows("people", order_by="pipedrive_person_id")
        assert [(r["pipedrive_person_id"], r["first_name"]) for r in rows] == [
            (1, "New"),
            (2, "Person"),
        ]


class PipedriveSchemaUpdates(TargetTestTemplate):
    """A new SCHEMA mid-stream (a custom field switched on) keeps loading the same tables."""

    name = "pipedrive_schema_updates"

    def test(self) -> None:
        messages = [
            schema("persons"),
            record("persons", person(1, "a@acme.io")),
            schema("persons", ("tier",)),
            record("persons", person(2, "b@acme.io", custom_fields={"tier": "gold"})),
        ]
        self.runner.input_io = io.StringIO(lines(messages))
        self.runner.sync_all()

    def validate(self) -> None:
        rows = _cdp(self.runner).rows("people", order_by="pipedrive_person_id")
        assert [r["attributes"].get("custom_fields") for r in rows] == [None, {"tier": "gold"}]
        definitions = _cdp(self.runner).rows("activity_definitions")
        assert [d["definition_version"] for d in definitions] == [1, 2]


SUITE = SingerTestSuite(
    kind="target",
    tests=[
        TargetCliPrintsTest,
        TargetInvalidSchemaTest,
        TargetRecordBeforeSchemaTest,
        RecordMissingKeyPropertyIsRejected,
        UnknownStreamsAreRejected,
        TargetSchemaUpdates,
        TargetSchemaNoProperties,
        TargetNoPrimaryKeys,
        TargetArrayData,
        TargetCamelcaseComplexSchema,
        TargetSpecialCharsInAttributes,
        TargetEncodedStringData,
        PipedriveDuplicateRecords,
        PipedriveSchemaUpdates,
    ],
)

StandardTests = get_target_test_class(
    TargetCDP, config={}, custom_suites=[SUITE], include_target_tests=False
)


class TestTargetCDPStandard(StandardTests):
    """The suites above, each on a fresh DuckDB file and a fresh PostgreSQL schema."""

    @pytest.fixture(params=["duckdb", "postgresql"])
    def runner(self, request: pytest.FixtureRequest, tmp_path) -> TargetTestRunner:
        if request.param == "duckdb":
            config = {"database_url": f"duckdb:///{tmp_path / 'sdk.duckdb'}", "schema": "cdp"}
        else:
            url = request.getfixturevalue("pg_sqlalchemy_url")
            config = {"database_url": url, "schema": f"cdp_{uuid.uuid4().hex[:10]}"}
        return TargetTestRunner(target_class=TargetCDP, config=config)
