"""Sinks: one class per kind of stream (a stream fans out into several CDP tables)."""

from __future__ import annotations

from target_cdp.sinks.base import CDPSink
from target_cdp.sinks.deals import DealsSink
from target_cdp.sinks.engagements import ActivitiesSink, NotesSink
from target_cdp.sinks.organizations import OrganizationsSink
from target_cdp.sinks.persons import PersonsSink
from target_cdp.sinks.reference import (
    ActivityTypesSink,
    FieldsSink,
    PipelinesSink,
    StagesSink,
    UsersSink,
)
from target_cdp.sinks.unknown import UnknownStreamSink
from target_cdp.sinks.usage import ApiUsageSink

#: Sink of each stream the tap emits, in dependency order: a stream's batches are written
#: after the pending batches of every stream before it (see ``TargetCDP.drain_in_order``).
SINKS: dict[str, type[CDPSink]] = {
    "users": UsersSink,
    "pipelines": PipelinesSink,
    "stages": StagesSink,
    "activity_types": ActivityTypesSink,
    "person_fields": FieldsSink,
    "organization_fields": FieldsSink,
    "deal_fields": FieldsSink,
    "activity_fields": FieldsSink,
    "note_fields": FieldsSink,
    "organizations": OrganizationsSink,
    "persons": PersonsSink,
    "deals": DealsSink,
    "notes": NotesSink,
    "activities": ActivitiesSink,
    "api_usage": ApiUsageSink,
}

__all__ = ["SINKS", "CDPSink", "UnknownStreamSink"]
