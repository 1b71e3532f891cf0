"""The stream registry (``registry.py``) against the code and the CDP's published contract.

What the registry derives (sinks, drain order, associations, merge referrers) must name real
sink classes, tables and columns, and give the associations docs/cdp-schema.md promises.
"""

from __future__ import annotations

import pytest
from target_cdp import registry
from target_cdp.activities import CORE_ATTRIBUTES, UPDATED_TYPES
from target_cdp.sinks import SINKS
from target_cdp.sinks.objects import PipedriveObjectSink
from target_cdp.tables import build_tables

TABLES = build_tables("cdp")


def test_every_stream_has_its_sink_in_drain_order() -> None:
    assert list(SINKS) == [s.name for s in registry.STREAMS]
    for stream in registry.STREAMS:
        assert SINKS[stream.name].__name__ == stream.sink
        is_object = issubclass(SINKS[stream.name], PipedriveObjectSink)
        assert is_object == (stream.kind is not None), stream.name


def test_references_point_to_streams_drained_earlier() -> None:
    for stream in registry.STREAMS:
        for field, kind in stream.references.items():
            referred = registry.BY_KIND[kind]
            assert registry.RANK[referred.name] < registry.RANK[stream.name], (stream.name, field)
            assert referred.table is not None, f"{stream.name}.{field}: {kind} has no table"


def test_tables_and_columns_named_exist() -> None:
    records = TABLES.pipedrive_records
    for stream in registry.STREAMS:
        if stream.table is None:
            continue
        table = getattr(TABLES, stream.table)
        for column in (stream.id_column, stream.pipedrive_column):
            assert column is None or column in table.c, (stream.name, column)
        assert stream.ref_column is None or stream.ref_column in records.c, stream.name
    for kind, stream in registry.TABLED_KINDS.items():
        for name in registry.referrers(kind):
            table = getattr(TABLES, name)
            assert {stream.pipedrive_column, stream.id_column} <= set(table.c.keys()), (kind, name)


def test_associations_are_the_published_ones() -> None:
    """docs/cdp-schema.md: person->deal/lead/note/pipedrive_activity, organization->person/
    deal/lead/note/pipedrive_activity, deal->note/pipedrive_activity, each from its child
    stream."""
    assert {(a.from_kind, a.to_kind, a.stream, a.ref_column) for a in registry.ASSOCIATIONS} == {
        ("person", "deal", "deals", "person_ref"),
        ("person", "lead", "leads", "person_ref"),
        ("organization", "lead", "leads", "org_ref"),
        ("person", "note", "notes", "person_ref"),
        ("person", "pipedrive_activity", "activities", "person_ref"),
        ("organization", "person", "persons", "org_ref"),
        ("organization", "deal", "deals", "org_ref"),
        ("organization", "note", "notes", "org_ref"),
        ("organization", "pipedrive_activity", "activities", "org_ref"),
        ("deal", "note", "notes", "deal_ref"),
        ("deal", "pipedrive_activity", "activities", "deal_ref"),
    }
    assert registry.STREAM_OF_LINK_KIND["pipedrive_activity"] == "activities"


@pytest.mark.parametrize(
    ("stream", "columns"),
    [
        ("persons", {"org_ref": "org_id", "person_ref": "merged_to_id"}),
        ("organizations", {"org_ref": "merged_to_id"}),
        ("deals", {"person_ref": "person_id", "org_ref": "org_id"}),
        ("leads", {"person_ref": "person_id", "org_ref": "organization_id"}),
        ("notes", {"person_ref": "person_id", "org_ref": "org_id", "deal_ref": "deal_id"}),
        ("activities", {"person_ref": "person_id", "org_ref": "org_id", "deal_ref": "deal_id"}),
    ],
)
def test_snapshot_references(stream: str, columns: dict[str, str]) -> None:
    assert registry.snapshot_references(registry.BY_NAME[stream]) == columns


def test_merges_move_the_tables_referring_to_the_kind() -> None:
    assert set(registry.referrers("person")) == {"deals", "leads", "activities"}
    assert set(registry.referrers("organization")) == {"people", "deals", "leads", "activities"}
    assert registry.referrers("lead") == ()  # nothing refers to a lead by its Pipedrive id


def test_every_activity_type_is_counted_under_its_stream() -> None:
    """Run counts put ``pipedrive.<kind>.*`` activities under the stream of that kind."""
    families = {t.split(".")[1] for t in (*CORE_ATTRIBUTES, *UPDATED_TYPES)}
    assert families == set(registry.STREAM_OF_KIND)
    assert dict(registry.STREAM_OF_KIND) == {
        "organization": "organizations",
        "person": "persons",
        "deal": "deals",
        "lead": "leads",
        "note": "notes",
        "activity": "activities",
    }


def test_deletion_by_active_flag() -> None:
    """API v1 says a person, organization or note is deleted with ``active_flag: false``."""
    assert {"person", "organization", "note"} == registry.INACTIVE_MEANS_DELETED
