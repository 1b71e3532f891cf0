"""Meltano select: patterns that match nothing are named at the end of the tap's run."""

from __future__ import annotations

import json
import logging

import pytest
from singer_sdk.singerlib import Catalog
from tap_pipedrive.select_patterns import SELECT_VARIABLE, unmatched, warn_unmatched

SCHEMAS = {
    "persons": {
        "properties": {
            "name": {"type": "string"},
            "custom_fields": {"type": "object", "properties": {"tier": {"type": "string"}}},
        }
    },
    "deals": {"properties": {"title": {"type": "string"}}},
    "deal_fields": {"properties": {"field_code": {"type": "string"}}},
    "odd.name": {"properties": {"id": {"type": "integer"}}},
}


@pytest.mark.parametrize(
    "pattern",
    [
        "persons.*",
        "persons",
        "deal*.*",
        "!deals.title",
        "persons.name",
        "persons.custom_fields.tier",
        "persons.custom_fields.*",
        "*.title",
        r"odd\.name.id",
    ],
)
def test_patterns_that_select_something_pass(pattern: str) -> None:
    assert unmatched(pattern, SCHEMAS) is None


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("persosn.*", "matches no stream of tap-pipedrive (did you mean persons?): it selects"),
        ("!persosn.name", "matches no stream of tap-pipedrive (did you mean persons?)"),
        ("Persons.*", "matches no stream of tap-pipedrive (did you mean persons?)"),
        ("orgs*.*", "matches no stream of tap-pipedrive: it selects nothing"),
        ("persons.emial", "matches no property of persons"),
        ("deal*.titel", "matches no property of deal_fields, deals"),
        ("persons.custom_fields.teir", "matches no property of persons"),
        ("odd.name.id", "matches no stream of tap-pipedrive"),
    ],
)
def test_patterns_that_match_nothing_are_named(pattern: str, problem: str) -> None:
    found = unmatched(pattern, SCHEMAS)
    assert found is not None
    assert found.startswith(problem)


def test_one_warning_line_per_pattern_that_matches_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = Catalog.from_dict(
        {
            "streams": [
                {"tap_stream_id": name, "stream": name, "schema": schema, "metadata": []}
                for name, schema in SCHEMAS.items()
            ]
        }
    )
    environ = {SELECT_VARIABLE: json.dumps(["persons.*", "persosn.*", "deals.titel"])}
    logger = logging.getLogger("tap-pipedrive-test")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        warn_unmatched(logger, environ, catalog)
        warn_unmatched(logger, {SELECT_VARIABLE: "not json"}, catalog)
        warn_unmatched(logger, environ, None)
    assert [r.getMessage() for r in caplog.records] == [
        "select: 'persosn.*' matches no stream of tap-pipedrive (did you mean persons?): it "
        "selects nothing; fix it in meltano.yml's select:",
        "select: 'deals.titel' matches no property of deals; fix it in meltano.yml's select:",
    ]
