"""Record shaping: the stream's schema (generated from the specs, plus the custom fields) and
every API row shaped to it once, cheaply (keys, RFC 3339 times, real booleans, custom fields
under readable names), instead of the SDK's recursive type conformance per record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

import singer_sdk.singerlib as singer
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_pipedrive.custom_fields import CustomFieldSet
from tap_pipedrive.timestamps import to_rfc3339

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.session import RunSession


def load_schema(stream_name: str) -> dict[str, Any]:
    """The JSON Schema generated from the OpenAPI specs for ``stream_name``."""
    text = resources.files("tap_pipedrive.schemas").joinpath(f"{stream_name}.json").read_text()
    return json.loads(text)


def type_names(property_schema: Mapping[str, Any]) -> set[str]:
    """The JSON Schema types a property allows (``type`` may be one name or a list)."""
    kind = property_schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


class ShapedRecords(Stream):
    """The schema and record shaping of a Pipedrive stream (mixed into
    :class:`~tap_pipedrive.client.PipedriveStream`)."""

    session: RunSession
    custom_fields_entity: ClassVar[str | None] = None
    """The field stream (``person_fields``...) whose custom fields this stream's records carry."""

    # Records are shaped to the schema by post_process (below), which is cheaper than the
    # SDK's generic recursive conformance and produces the same result for Pipedrive's JSON.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @property
    def schema(self) -> dict[str, Any]:
        """The spec-derived schema, plus ``custom_fields`` from the field definitions.

        Built on first use, so a run whose catalog does not select this stream never asks
        Pipedrive for its field definitions.
        """
        if self._schema is None:
            self._schema = self.build_schema()
        return self._schema

    def build_schema(self) -> dict[str, Any]:
        """Assemble this stream's schema (override for streams without a generated file)."""
        schema = load_schema(self.name)
        custom = self.custom_field_set
        if custom is not None:
            schema["properties"]["custom_fields"] = custom.schema
        return schema

    @cached_property
    def custom_field_set(self) -> CustomFieldSet | None:
        """The custom fields records of this stream carry (None if they carry none, or if
        Pipedrive refused the field list)."""
        if self.custom_fields_entity is None or not self.config.get("include_custom_fields", True):
            return None
        return self.session.custom_field_set(self.custom_fields_entity)

    @cached_property
    def _shape(self) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...], bool]:
        properties = self.effective_schema["properties"]
        keys = frozenset(properties) - {"custom_fields"}
        times = tuple(k for k, v in properties.items() if v.get("format") == "date-time")
        booleans = tuple(k for k, v in properties.items() if "boolean" in type_names(v))
        return keys, times, booleans, "custom_fields" in properties

    @cached_property
    def _custom_converter(self) -> CustomFieldSet | None:
        """Custom-field conversion limited to the names the effective (catalog) schema has."""
        custom = self.custom_field_set
        if custom is None:
            return None
        wanted = set(self.effective_schema["properties"]["custom_fields"].get("properties", {}))
        converters = {c: entry for c, entry in custom.converters.items() if entry[0] in wanted}
        return CustomFieldSet(converters=converters, schema=custom.schema)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:  # noqa: ARG002
        """Shape one API record to the schema: known keys only, RFC 3339 times, real booleans,
        custom fields under readable names."""
        keys, times, booleans, has_custom = self._shape
        record = {key: value for key, value in row.items() if key in keys}
        for key in times:
            value = record.get(key)
            if value is not None:
                record[key] = to_rfc3339(value)
        for key in booleans:
            value = record.get(key)
            if type(value) is int:  # v1 sends 0/1 in places
                record[key] = value != 0
        converter = self._custom_converter if has_custom else None
        if converter is not None:
            raw = row.get("custom_fields")
            record["custom_fields"] = None if raw is None else converter.convert(raw)
        # Without definitions (field list refused, or include_custom_fields off) the key is
        # left out rather than sent as null, which an upserting target would store over the
        # values an earlier run delivered.
        return record

    @cached_property
    def _everything_selected(self) -> bool:
        return all(self.mask.values())

    def _generate_record_messages(self, record: dict) -> Iterator[singer.RecordMessage]:
        """The SDK's RECORD messages, minus its per-record selection walk when nothing in the
        catalog is deselected (that walk was the largest cost per record). With a property
        deselected, or another SDK conformance level, the SDK's own method runs unchanged."""
        if not self._everything_selected:
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=dt.datetime.now(dt.UTC),
                )
