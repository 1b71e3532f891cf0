"""The private singer-sdk names target-cdp depends on, why, and where: one list to check on upgrade.

singer-sdk (pinned in pyproject.toml) gives targets no public hook for what the CDP needs
at these points, so the target overrides or reads these names. They may change in any SDK
release: ``tests/test_target_sdk_private.py`` checks each still exists with the parameters
the target expects, and fails naming the one that moved. Overrides stay methods of the class
that needs them (the SDK calls them there); the attributes are read only through the
functions below.

Each name, where target-cdp uses it, and why:

- ``Sink._add_sdc_metadata_to_schema()`` (override in ``CDPSink``): declare only
  ``_sdc_table_version``; the CDP's columns are its contract.
- ``Sink._add_sdc_metadata_to_record(record, message, context)`` (override in ``CDPSink``):
  the only place a sink sees the RECORD's table ``version`` (reconciliation passes).
- ``Sink._validate_and_parse(record)`` (override in ``CDPSink``): a SCHEMA failure or a value
  no database holds becomes a rejection kept in ``rejected_records``, not a failed run; and
  timestamps stay RFC 3339 text.
- ``Sink._singer_validate_message(record)`` (override in ``CDPSink``): a missing key property
  is a rejection, not a crash.
- ``Sink._validator`` (read in ``CDPSink._validate_and_parse``): the validator
  ``get_validator`` built, None when validation is off.
- ``Sink._pending_batch`` (read through ``pending_batch``, in ``CDPSink.is_full``): the batch
  being filled, full at 4 MB of JSON too.
- ``Target._sinks_active`` and ``Target._sinks_to_clear`` (read through ``pending_sinks``, in
  ``TargetCDP``): the sinks holding records, so that the streams a batch refers to are written
  first, and every batch before deferred retirement.
- ``Target._process_activate_version_message(message_dict)`` (override in ``TargetCDP``):
  retire at once or at the end of the run (target.py), where the SDK always retires at once.
- ``PluginBase._setup_signal_handlers()`` (override in ``TargetCDP``): SIGHUP too, with the
  target's handler.
- ``Target._handle_termination(signum, frame)`` (override in ``TargetCDP``): stop at once
  with no STATE, where the SDK's drains every sink and emits STATE.
- ``singer_sdk.sinks.core.BaseJSONSchemaValidator`` (``validation.py``, ``sinks/base.py``):
  the type ``get_validator`` returns, not exported by ``singer_sdk.sinks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from singer_sdk import Target
    from singer_sdk.sinks import Sink


@dataclass(frozen=True)
class PrivateName:
    """One private singer-sdk name the target uses."""

    #: ``module:Class`` in singer-sdk.
    owner: str
    name: str
    #: The parameters of a method, ``self`` first; None for an attribute its ``__init__`` sets.
    parameters: tuple[str, ...] | None
    #: ``module:Class`` in target-cdp overriding it (an override must keep the parameters).
    overridden_in: str | None = None


SINK = "singer_sdk.sinks.core:Sink"
TARGET = "singer_sdk.target_base:Target"
CDP_SINK = "target_cdp.sinks.base:CDPSink"
CDP_TARGET = "target_cdp.target:TargetCDP"

#: Every private name of the table above (the module docstring).
PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName(SINK, "_add_sdc_metadata_to_schema", ("self",), CDP_SINK),
    PrivateName(
        SINK, "_add_sdc_metadata_to_record", ("self", "record", "message", "context"), CDP_SINK
    ),
    PrivateName(SINK, "_validate_and_parse", ("self", "record"), CDP_SINK),
    PrivateName(SINK, "_singer_validate_message", ("self", "record"), CDP_SINK),
    PrivateName(SINK, "_validator", None),
    PrivateName(SINK, "_pending_batch", None),
    PrivateName(TARGET, "_sinks_active", None),
    PrivateName(TARGET, "_sinks_to_clear", None),
    PrivateName(TARGET, "_process_activate_version_message", ("self", "message_dict"), CDP_TARGET),
    PrivateName(TARGET, "_setup_signal_handlers", ("self",), CDP_TARGET),
    PrivateName(TARGET, "_handle_termination", ("self", "signum", "frame"), CDP_TARGET),
    PrivateName("singer_sdk.sinks.core", "BaseJSONSchemaValidator", None),
)


def pending_sinks(target: Target) -> list[Sink]:
    """Every sink that may hold records not written yet (those replaced by a new SCHEMA first)."""
    return [*target._sinks_to_clear, *target._sinks_active.values()]


def pending_batch(sink: Sink) -> dict:
    """The context of the batch the sink is filling (empty before its first record)."""
    return sink._pending_batch or {}
