"""Every stream target-cdp loads, one row each: what the rest of the target derives its tables from.

The sink of each stream (``sinks.SINKS``), the order pending batches are written in
(``target.RANK``), the CDP tables a Pipedrive kind has (``links``), the associations kept
between kinds (``links``), the stream each activity type is counted under (``activity_log``)
and the tables a Pipedrive merge moves (``merges``) are all read from ``STREAMS`` below, never
written out again elsewhere.

Words used here: a *stream* is a Singer stream tap-pipedrive sends (``persons``); a *kind* is
the Pipedrive object a record of it is (``person``), as named in activity types
(``pipedrive.person.created``), in ``activities.source_record`` (``person:42``) and in
target-pipedrive's ledger (``object_type``).

Adding a Pipedrive object (say ``leads``) means:

1. one row in ``STREAMS``, after every stream its records refer to (a lead refers to persons
   and organizations: the row comes after theirs), naming its sink class;
2. one small sink class in ``target_cdp/sinks/`` (imported in ``sinks/__init__.py``), most of
   it the ``apply`` that writes its CDP row;
3. its table in ``tables.py`` (and in docs/cdp-schema.md). A table of an object referring to a
   kind carries that kind's Pipedrive id column (``pipedrive_person_id``) and CDP id column
   (``person_id``): references are resolved, and merges followed, through them. A kind other
   records refer to also needs its ``ref_column`` in ``pipedrive_records``.

``tests/test_target_registry.py`` checks the rows against the code: every stream has its sink,
every table and column named exists, and every reference points to a stream drained earlier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

#: The CDP events table: every derived activity carries the Pipedrive ids of the person,
#: organization and deal it concerns, so a merge moves its references too.
ACTIVITIES_TABLE = "activities"


@dataclass(frozen=True)
class Stream:
    """One stream the target loads, and where its records go."""

    #: The Singer stream name.
    name: str
    #: The class in ``target_cdp.sinks`` writing it.
    sink: str
    #: The CDP table with one row per record (None: a stream that becomes activities and
    #: associations only, as notes and Pipedrive activities do).
    table: str | None = None
    #: The Pipedrive object a record is (None: catalogs, field definitions, the tap's usage).
    kind: str | None = None
    #: ``table``'s CDP id column and Pipedrive id column (which other tables use, too, to
    #: refer to this kind).
    id_column: str | None = None
    pipedrive_column: str | None = None
    #: The ``pipedrive_records`` column holding other records' references to this kind.
    ref_column: str | None = None
    #: Record field -> the kind it refers to (``{"org_id": "organization"}``).
    references: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Pipedrive merges objects of this kind (``merged_to_id``; see ``merges.py``).
    merges: bool = False
    #: ``associations.to_kind`` of a record of this stream linked to another (default: kind).
    linked_as: str | None = None
    #: ``active_flag: false`` says the object is deleted (API v1's deletion flag).
    inactive_means_deleted: bool = False

    @property
    def link_kind(self) -> str | None:
        """The kind's name in ``associations``."""
        return self.linked_as or self.kind


def _refs(**references: str) -> Mapping[str, str]:
    return MappingProxyType(references)


_ENGAGEMENT_REFERENCES = _refs(person_id="person", org_id="organization", deal_id="deal")

#: Every stream, in drain order: a batch is written after the pending batches of every stream
#: before it, so the records it refers to are there to resolve.
STREAMS: tuple[Stream, ...] = (
    Stream("users", "UsersSink", "users"),
    Stream("pipelines", "PipelinesSink", "pipelines"),
    Stream("stages", "StagesSink", "stages"),
    Stream("activity_types", "PipedriveActivityTypesSink", "activity_types"),
    Stream("person_fields", "FieldsSink", "pipedrive_fields"),
    Stream("organization_fields", "FieldsSink", "pipedrive_fields"),
    Stream("deal_fields", "FieldsSink", "pipedrive_fields"),
    Stream("activity_fields", "FieldsSink", "pipedrive_fields"),
    Stream("note_fields", "FieldsSink", "pipedrive_fields"),
    Stream(
        "organizations",
        "OrganizationsSink",
        "organizations",
        kind="organization",
        id_column="organization_id",
        pipedrive_column="pipedrive_org_id",
        ref_column="org_ref",
        merges=True,
        inactive_means_deleted=True,
    ),
    Stream(
        "persons",
        "PersonsSink",
        "people",
        kind="person",
        id_column="person_id",
        pipedrive_column="pipedrive_person_id",
        ref_column="person_ref",
        references=_refs(org_id="organization"),
        merges=True,
        inactive_means_deleted=True,
    ),
    Stream(
        "leads",
        "LeadsSink",
        "leads",
        kind="lead",
        id_column="lead_id",
        pipedrive_column="pipedrive_lead_key",
        references=_refs(person_id="person", organization_id="organization"),
    ),
    Stream(
        "deals",
        "DealsSink",
        "deals",
        kind="deal",
        id_column="deal_id",
        pipedrive_column="pipedrive_deal_id",
        ref_column="deal_ref",
        references=_refs(person_id="person", org_id="organization"),
    ),
    Stream(
        "notes",
        "NotesSink",
        kind="note",
        references=_ENGAGEMENT_REFERENCES,
        inactive_means_deleted=True,
    ),
    Stream(
        "activities",
        "PipedriveActivitiesSink",
        kind="activity",
        references=_ENGAGEMENT_REFERENCES,
        linked_as="pipedrive_activity",
    ),
    Stream("api_usage", "ApiUsageSink", "api_usage"),
)

BY_NAME: Mapping[str, Stream] = MappingProxyType({s.name: s for s in STREAMS})
#: Rank of each stream in drain order (lower first).
RANK: Mapping[str, int] = MappingProxyType({s.name: rank for rank, s in enumerate(STREAMS)})
#: The stream of each Pipedrive kind.
BY_KIND: Mapping[str, Stream] = MappingProxyType({s.kind: s for s in STREAMS if s.kind})
#: The kinds with a CDP table of their own: those other records refer to and resolve.
TABLED_KINDS: Mapping[str, Stream] = MappingProxyType(
    {kind: s for kind, s in BY_KIND.items() if s.table}
)
#: Stream whose records emit each activity-type family (``pipedrive.<kind>.*``).
STREAM_OF_KIND: Mapping[str, str] = MappingProxyType({k: s.name for k, s in BY_KIND.items()})
#: Stream of the records of each ``associations.to_kind``.
STREAM_OF_LINK_KIND: Mapping[str, str] = MappingProxyType(
    {s.link_kind: s.name for s in STREAMS if s.link_kind}
)
#: Kinds whose records say deleted with ``active_flag: false``.
INACTIVE_MEANS_DELETED: frozenset[str] = frozenset(
    s.kind for s in STREAMS if s.kind and s.inactive_means_deleted
)
#: The record field whose ``pipedrive_records`` reference column holds a merged object's survivor.
MERGED_TO = "merged_to_id"


class Association(NamedTuple):
    """Records of ``stream`` are linked to the ``from_kind`` record their ``ref_column`` names."""

    from_kind: str
    to_kind: str
    stream: str
    ref_column: str


#: Every association kept: one per reference of a stream to a kind with a table.
ASSOCIATIONS: tuple[Association, ...] = tuple(
    Association(kind, str(s.link_kind), s.name, str(TABLED_KINDS[kind].ref_column))
    for kind in TABLED_KINDS
    for s in STREAMS
    if kind in s.references.values()
)


def snapshot_references(stream: Stream) -> dict[str, str]:
    """``pipedrive_records`` reference column -> the record field it is taken from.

    A merged kind's own column holds the survivor of an object merged away (``merged_to_id``).
    """
    columns = {str(TABLED_KINDS[kind].ref_column): name for name, kind in stream.references.items()}
    if stream.merges:
        columns[str(stream.ref_column)] = MERGED_TO
    return columns


def referrers(kind: str) -> tuple[str, ...]:
    """The CDP tables referring to ``kind`` by its Pipedrive id (and CDP id) columns."""
    tables = [s.table for s in STREAMS if s.table and kind in s.references.values()]
    # activities carry the Pipedrive ids of the kinds records refer to (not of leads)
    return (*tables, ACTIVITIES_TABLE) if BY_KIND[kind].ref_column else tuple(tables)
