"""Field definitions: one stream per entity's field list, fetched once per run and shared
with the entity's schema and record conversion (custom fields under readable names)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_pipedrive import field_cache
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.custom_fields import CustomFieldSet, assign_readable_names
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.errors import FieldListRefusedError
from tap_pipedrive.response import error_text
from tap_pipedrive.timestamps import to_rfc3339

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


# Where a field stream's state keeps which fetch of the definitions the target received.
DEFINITIONS_FETCHED_AT = "definitions_fetched_at"

_OPTION = th.ObjectType(
    th.Property("id", th.CustomType({"type": ["integer", "string", "null"]})),
    th.Property("label", th.StringType),
    th.Property("color", th.StringType),
    th.Property("add_time", th.DateTimeType),
    th.Property("update_time", th.DateTimeType),
)
_SUBFIELD = th.ObjectType(
    th.Property("field_code", th.StringType),
    th.Property("field_name", th.StringType),
    th.Property("field_type", th.StringType),
)
_FIELD_PROPERTIES = (
    th.Property("field_code", th.StringType, required=True),
    th.Property("field_name", th.StringType),
    th.Property("field_type", th.StringType),
    th.Property("is_custom_field", th.BooleanType),
    th.Property("is_optional_response_field", th.BooleanType),
    th.Property("options", th.ArrayType(_OPTION)),
    th.Property("subfields", th.ArrayType(_SUBFIELD)),
    th.Property("readable_name", th.StringType, description="The key used in records."),
)


def _option(option: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": option.get("id"),
        "label": option.get("label"),
        "color": option.get("color"),
        "add_time": to_rfc3339(option.get("add_time")),
        "update_time": to_rfc3339(option.get("update_time")),
    }


def _v1_as_v2(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 field definition renamed to the v2 vocabulary (the specs' field schemas): ``key`` →
    ``field_code``, ``name`` → ``field_name``, ``edit_flag`` → ``is_custom_field``, and the
    same for subfields."""
    subfields = raw.get("subfields")
    return {
        **raw,
        "field_code": raw.get("key"),
        "field_name": raw.get("name"),
        "is_custom_field": raw.get("edit_flag"),
        "subfields": None
        if subfields is None
        else [
            {
                "field_code": sub.get("key"),
                "field_name": sub.get("name"),
                "field_type": sub.get("field_type"),
            }
            for sub in subfields
        ],
    }


class FieldsStream(PipedriveStream):
    """Field definitions of one entity. Fetched once per run and shared: the entity stream's
    schema and record conversion use the same definitions as this stream's records.

    A list Pipedrive refuses (a JSON 403: the OAuth app lacks ``read_scope``; or a 404) must not
    fail discovery of every stream: the entity's records are then read without
    ``custom_fields`` and this stream emits nothing, with one warning.

    In the live mode the definitions come from ``field_cache_path`` (:mod:`field_cache`) when
    it has them; the list is read again only by :meth:`refresh` (an event named an unknown
    field). The stream emits the definitions once per fetch (no version: a live run does not
    retire fields) and nothing otherwise.
    """

    primary_keys = ("field_code",)
    page_size = 500  # field lists are short: one call, whatever page_size the lists use
    read_scope: ClassVar[str]
    """The OAuth scope that lets an app read this list (spec ``security``), for the warning."""

    def build_schema(self) -> dict[str, Any]:
        """Field definitions in API v2 naming, plus ``readable_name``."""
        return th.PropertiesList(*_FIELD_PROPERTIES).to_dict()

    def normalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """One API v2 field definition in the stream's shape."""
        return {
            "field_code": raw.get("field_code"),
            "field_name": raw.get("field_name"),
            "field_type": raw.get("field_type"),
            "is_custom_field": bool(raw.get("is_custom_field")),
            "is_optional_response_field": raw.get("is_optional_response_field"),
            "options": None if raw.get("options") is None else [_option(o) for o in raw["options"]],
            "subfields": raw.get("subfields"),
        }

    def validate_response(self, response: requests.Response) -> None:
        """A JSON 403 or a 404 refuses the list: :class:`FieldListRefusedError`."""
        try:
            super().validate_response(response)
        except FatalAPIError as exc:
            status = response.status_code
            if status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND):
                path = urlparse(response.url).path
                raise FieldListRefusedError(status, path, error_text(response)) from exc
            raise

    def read_definitions(self) -> list[dict[str, Any]]:
        """The entity's field definitions from the API, normalized."""
        return [self.normalize(raw) for raw in self.request_records(None)]

    fetched_at: str | None = None
    """When the definitions in use were read from Pipedrive (ISO 8601, UTC)."""
    _refetch = False

    @property
    def _cache_path(self) -> str | None:
        return self.config.get("field_cache_path") if self.live else None

    @cached_property
    def definitions(self) -> list[dict[str, Any]] | None:
        """All field definitions with their readable names (one API call per run, or none
        when the live mode's cache has them); None if Pipedrive refused the list."""
        cache_path = self._cache_path
        if cache_path and not self._refetch:
            entry = field_cache.read_entry(cache_path, self.name)
            if entry is not None:
                self.fetched_at = entry.get("fetched_at")
                return entry["definitions"]
        fields = self._fetch_definitions()
        self.fetched_at = dt.datetime.now(dt.UTC).isoformat()
        if cache_path and fields is not None:
            field_cache.write_entry(cache_path, self.name, fields, self.fetched_at)
        return fields

    def refresh(self) -> bool:
        """Read the list from Pipedrive again (and cache it); False if Pipedrive refused it."""
        self._refetch = True
        for name in ("definitions", "field_set"):
            self.__dict__.pop(name, None)
        return self.definitions is not None

    def _fetch_definitions(self) -> list[dict[str, Any]] | None:
        try:
            fields = self.read_definitions()
        except FieldListRefusedError as refused:
            self.logger.warning(
                "Pipedrive refused the field list (%s): records that carry these fields are "
                "read without custom_fields and %s is not synced this run. An OAuth app "
                "needs the scope %s to read it.",
                refused,
                self.name,
                self.read_scope,
            )
            return None
        names = assign_readable_names(fields)
        for field in fields:
            field["readable_name"] = names[field["field_code"]]
        return fields

    @cached_property
    def field_set(self) -> CustomFieldSet | None:
        """The custom fields, ready for record conversion and schema building (None if
        Pipedrive refused the list)."""
        if self.definitions is None:
            return None
        return CustomFieldSet.from_definitions(self.definitions)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing for a refused list: not even ACTIVATE_VERSION, which would retire every
        field downstream. In the live mode: definitions the target has not received yet."""
        if self.definitions is None:
            return
        if not self.live:
            yield from super().get_records(context)
            return
        state = self.stream_state
        if state.get(DEFINITIONS_FETCHED_AT) == self.fetched_at:
            return
        yield from self.fetch_records(context)
        state[DEFINITIONS_FETCHED_AT] = self.fetched_at

    def fetch_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """The cached definitions (no second request)."""
        return [dict(field) for field in self.definitions or ()]


class PersonFieldsStream(FieldsStream):
    """``GET /api/v2/personFields``."""

    name = "person_fields"
    endpoints = (Endpoint("v2", "/personFields", 10),)
    read_scope = "contacts:read"


class OrganizationFieldsStream(FieldsStream):
    """``GET /api/v2/organizationFields``."""

    name = "organization_fields"
    endpoints = (Endpoint("v2", "/organizationFields", 10),)
    read_scope = "contacts:read"


class DealFieldsStream(FieldsStream):
    """``GET /api/v2/dealFields``."""

    name = "deal_fields"
    endpoints = (Endpoint("v2", "/dealFields", 10),)
    read_scope = "deals:read"


class ActivityFieldsStream(FieldsStream):
    """``GET /api/v2/activityFields``, or ``GET /api/v1/activityFields`` for OAuth apps without
    the ``admin`` scope.

    v2 ``activityFields`` is the only field list that needs OAuth scope ``admin``; v1 needs only
    ``activities:read`` (the specs' ``security`` of each ``GET /activityFields``). On v2's 403
    (a JSON error, not Cloudflare's HTML page) the stream reads v1 instead, renamed to the v2
    field vocabulary, charged at v1's token cost, with one warning.
    """

    name = "activity_fields"
    endpoints = (Endpoint("v2", "/activityFields", 10), Endpoint("v1", "/activityFields", 20))
    read_scope = "activities:read"  # of v1, the list read when v2 is refused
    reads_v1 = False
    """Whether v2 was refused and the stream now reads v1."""

    def endpoint(self, context: Context | None) -> Endpoint:  # noqa: ARG002
        """v2, or v1 once v2 was refused."""
        v2, v1 = self.endpoints
        return v1 if self.reads_v1 else v2

    def read_definitions(self) -> list[dict[str, Any]]:
        """v2 definitions, or v1's when v2 answers 403."""
        try:
            return super().read_definitions()
        except FieldListRefusedError as refused:
            if refused.status != HTTPStatus.FORBIDDEN or self.reads_v1:
                raise
            self.reads_v1, self.paginated = True, False
            fields = super().read_definitions()
            self.logger.warning(
                "Pipedrive refused GET /api/v2/activityFields (HTTP 403: %s), which needs the "
                "OAuth scope admin: activity fields were read from GET /api/v1/activityFields "
                "instead",
                refused.reason,
            )
            return fields

    def normalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A v2 definition, or a v1 one renamed to the v2 vocabulary."""
        return super().normalize(_v1_as_v2(raw) if self.reads_v1 else raw)


class NoteFieldsStream(FieldsStream):
    """``GET /api/v1/noteFields`` (API v2 has none), renamed to the v2 field vocabulary."""

    name = "note_fields"
    endpoints = (Endpoint("v1", "/noteFields", 20),)
    read_scope = "deals:read or contacts:read"
    paginated = False

    def build_schema(self) -> dict[str, Any]:
        """The v2 field shape plus the v1-only ``id``, ``active_flag`` and ``mandatory_flag``."""
        return th.PropertiesList(
            *_FIELD_PROPERTIES,
            th.Property("id", th.IntegerType),
            th.Property("active_flag", th.BooleanType),
            th.Property("mandatory_flag", th.BooleanType),
        ).to_dict()

    def normalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The v1 definition in the v2 vocabulary, plus its v1-only flags."""
        field = super().normalize(_v1_as_v2(raw))
        field.update(
            id=raw.get("id"),
            active_flag=raw.get("active_flag"),
            mandatory_flag=raw.get("mandatory_flag"),
        )
        return field
