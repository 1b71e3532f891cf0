"""The live mode (``webhook_spool`` set): an entity stream reads the webhook events spooled
after its position instead of the list (no API request), turned into the rows a list would
return (:mod:`tap_pipedrive.webhook_records`) and shaped by the same ``post_process``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream

from tap_pipedrive import webhook_records
from tap_pipedrive.errors import ConfigError

if TYPE_CHECKING:
    from tap_pipedrive.session import RunSession

from tap_pipedrive.records import type_names


class SpooledRecords(Stream):
    """An entity stream's records from the webhook spool (mixed into
    :class:`~tap_pipedrive.incremental.IncrementalStream`)."""

    session: RunSession

    @cached_property
    def _integer_keys(self) -> tuple[str, ...]:
        properties = self.effective_schema["properties"]
        return tuple(
            key
            for key, value in properties.items()
            if "integer" in type_names(value) and "string" not in type_names(value)
        )

    def live_records(self) -> Iterator[dict[str, Any]]:
        """The newest state of every object with events after the stream's spool position, up to
        the position the spool had when the run started (the same for every stream).

        The position (``spool_position`` in the stream's bookmark) moves there only after every
        record was handed on, so a crash repeats events, never skips them (the target upserts
        by ``id`` and ignores a state older than the one it holds).
        No version and no ACTIVATE_VERSION: the events are not the whole list.
        """
        state = self.stream_state
        position = int(state.get(webhook_records.SPOOL_POSITION) or 0)
        through = self.session.spool_through
        if position > through:
            msg = (
                f"the state's spool_position {position} for {self.name} is past the newest "
                f"event of webhook_spool ({through}): the state belongs to another spool; set "
                "webhook_spool to that spool, or clear this extractor's state to apply this "
                "spool from its start"
            )
            raise ConfigError(msg)
        if through == position:
            return
        entity = webhook_records.ENTITY_OF_STREAM[self.name]
        events = self.session.spool.read_after(position, entity, through)
        rows = webhook_records.newest_rows(events, self._integer_keys)
        self._learn_unknown_fields(rows)
        yield from rows
        state[webhook_records.SPOOL_POSITION] = through
        self.logger.info(
            "Applied %d %s from the spool through position %d", len(rows), self.name, through
        )

    def _learn_unknown_fields(self, rows: list[dict[str, Any]]) -> None:
        """Fetch the field list again (once per run) when an event names a custom field the
        cached definitions do not know, and announce the new fields in a SCHEMA message."""
        custom = self.custom_field_set
        if custom is None:
            return
        seen = {code for row in rows for code in (row.get("custom_fields") or {})}
        unknown = seen - set(custom.converters)
        if not unknown or not self.session.refresh_fields(str(self.custom_fields_entity)):
            return
        self.logger.info(
            "Events name %d custom field(s) the cached definitions do not know: %s read again",
            len(unknown),
            self.custom_fields_entity,
        )
        for name in ("custom_field_set", "_custom_converter"):
            self.__dict__.pop(name, None)
        refreshed = self.custom_field_set
        if refreshed is None:
            return
        self._schema = None
        if self._input_schema is not None:
            held = self._input_schema["properties"].setdefault("custom_fields", refreshed.schema)
            known = held.setdefault("properties", {})
            for name, schema in refreshed.schema["properties"].items():
                known.setdefault(name, schema)
        # The stream maps hold the schema they were built with: rebuild them from the new one.
        self.session.mapper.register_raw_stream_schema(
            self.name, self.effective_schema, self.primary_keys or []
        )
        self._stream_maps = []
        self._write_schema_message()
