"""Sinks: one class per kind of stream (a stream fans out into several CDP tables).

Which class writes which stream is ``registry.STREAMS``; this module only binds the names.
"""

from __future__ import annotations

from target_cdp.registry import STREAMS
from target_cdp.sinks.base import CDPSink
from target_cdp.sinks.deals import DealsSink
from target_cdp.sinks.engagements import NotesSink, PipedriveActivitiesSink
from target_cdp.sinks.leads import LeadsSink
from target_cdp.sinks.organizations import OrganizationsSink
from target_cdp.sinks.persons import PersonsSink
from target_cdp.sinks.reference import (
    FieldsSink,
    PipedriveActivityTypesSink,
    PipelinesSink,
    StagesSink,
    UsersSink,
)
from target_cdp.sinks.unknown import UnknownStreamSink
from target_cdp.sinks.usage import ApiUsageSink

_CLASSES: dict[str, type[CDPSink]] = {
    cls.__name__: cls
    for cls in (
        UsersSink,
        PipelinesSink,
        StagesSink,
        PipedriveActivityTypesSink,
        FieldsSink,
        OrganizationsSink,
        PersonsSink,
        LeadsSink,
        DealsSink,
        NotesSink,
        PipedriveActivitiesSink,
        ApiUsageSink,
    )
}

#: Sink of each stream the tap emits, in drain order (``registry.STREAMS``).
SINKS: dict[str, type[CDPSink]] = {stream.name: _CLASSES[stream.sink] for stream in STREAMS}

__all__ = ["SINKS", "CDPSink", "UnknownStreamSink"]
