"""The tap's streams, one small class each, by family: :mod:`.fields` (field definitions),
:mod:`.catalogs` (small lists read whole), :mod:`.entities` (incremental lists),
:mod:`.changelogs` (per-object history) and :mod:`.api_usage` (the run's own account).

This module is the stream list: adding a stream means one class in its family's module and one
entry here.
"""

from __future__ import annotations

from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.streams.api_usage import ApiUsageStream
from tap_pipedrive.streams.catalogs import (
    ActivityTypesStream,
    PipelinesStream,
    StagesStream,
    UsersStream,
)
from tap_pipedrive.streams.changelogs import (
    ChangelogStream,
    DealChangelogStream,
    PersonChangelogStream,
)
from tap_pipedrive.streams.entities import (
    ActivitiesStream,
    DealsStream,
    LeadsStream,
    NotesStream,
    OrganizationsStream,
    PersonsStream,
)
from tap_pipedrive.streams.fields import (
    ActivityFieldsStream,
    DealFieldsStream,
    FieldsStream,
    NoteFieldsStream,
    OrganizationFieldsStream,
    PersonFieldsStream,
)

FIELD_STREAMS: tuple[type[FieldsStream], ...] = (
    PersonFieldsStream,
    OrganizationFieldsStream,
    DealFieldsStream,
    ActivityFieldsStream,
    NoteFieldsStream,
)
OTHER_STREAMS: tuple[type[PipedriveStream], ...] = (
    PersonsStream,
    OrganizationsStream,
    DealsStream,
    ActivitiesStream,
    NotesStream,
    LeadsStream,
    UsersStream,
    PipelinesStream,
    StagesStream,
    ActivityTypesStream,
    PersonChangelogStream,
    DealChangelogStream,
)
STREAM_NAMES = frozenset(cls.name for cls in (*FIELD_STREAMS, *OTHER_STREAMS, ApiUsageStream))

__all__ = [
    "FIELD_STREAMS",
    "OTHER_STREAMS",
    "STREAM_NAMES",
    "ActivitiesStream",
    "ActivityFieldsStream",
    "ActivityTypesStream",
    "ApiUsageStream",
    "ChangelogStream",
    "DealChangelogStream",
    "DealFieldsStream",
    "DealsStream",
    "FieldsStream",
    "LeadsStream",
    "NoteFieldsStream",
    "NotesStream",
    "OrganizationFieldsStream",
    "OrganizationsStream",
    "PersonChangelogStream",
    "PersonFieldsStream",
    "PersonsStream",
    "PipelinesStream",
    "StagesStream",
    "UsersStream",
]
