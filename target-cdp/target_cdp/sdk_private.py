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

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import version
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


def _resolve(path: str) -> object:
    module, _, name = path.partition(":")
    found = importlib.import_module(module)
    return getattr(found, name) if name else found


def _parameters(function: object) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)  # type: ignore[arg-type]


def moved(private: PrivateName, listed_in: str) -> str | None:
    """What the installed singer-sdk changed about ``private`` (None: nothing), in one line
    naming the SDK name and ``listed_in``, the module listing it. Shared by every plugin of
    this workspace that lists private SDK names this way (target-pipedrive too)."""
    owner = _resolve(private.owner)
    where = f"singer-sdk {version('singer-sdk')}: {private.owner.replace(':', '.')}.{private.name}"
    if not hasattr(owner, private.name) and (private.parameters or inspect.ismodule(owner)):
        return f"{where} is gone (see {listed_in})"
    if private.parameters is None and isinstance(owner, type):
        if f"self.{private.name}" not in inspect.getsource(owner.__init__):
            return f"{where} is no longer set by {owner.__name__}.__init__ (see {listed_in})"
    elif private.parameters is not None:
        found = _parameters(getattr(owner, private.name))
        if found != private.parameters:
            expected = private.parameters
            return f"{where} now takes {found}, the plugin expects {expected} (see {listed_in})"
    if private.overridden_in:
        cls = _resolve(private.overridden_in)
        assert isinstance(cls, type)
        if private.name not in cls.__dict__:
            return f"{cls.__name__} no longer overrides {private.name} (see {listed_in})"
        if _parameters(getattr(cls, private.name)) != private.parameters:
            return f"{cls.__name__}.{private.name} does not take the SDK's parameters"
    return None


def pending_sinks(target: Target) -> list[Sink]:
    """Every sink that may hold records not written yet (those replaced by a new SCHEMA first)."""
    return [*target._sinks_to_clear, *target._sinks_active.values()]


def pending_batch(sink: Sink) -> dict:
    """The context of the batch the sink is filling (empty before its first record)."""
    return sink._pending_batch or {}
