"""The tap's streams, one small class each."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, urlencode, urlparse, urlsplit, urlunsplit

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_pipedrive import field_cache
from tap_pipedrive.client import IncrementalStream, PipedriveStream, V2IncrementalStream
from tap_pipedrive.custom_fields import CustomFieldSet, assign_readable_names
from tap_pipedrive.errors import FieldListRefusedError, MarketingFieldsRefusedError
from tap_pipedrive.pagination import KeysetOffsetPaginator
from tap_pipedrive.response import error_text, payload_of, set_payload
from tap_pipedrive.timestamps import to_api_param, to_rfc3339

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.tap import TapPipedrive

# Spec v2 GET /persons: "can only be included if the company has marketing app enabled".
MARKETING_INCLUDE_FIELDS = ("marketing_status", "doi_status")
# How Pipedrive may refuse them: the spec names no status; 400 is what the sandbox answers,
# 403 (not allowed for this company) and 422 (unprocessable parameter) are as plausible.
MARKETING_REFUSALS = frozenset(
    {HTTPStatus.BAD_REQUEST, HTTPStatus.FORBIDDEN, HTTPStatus.UNPROCESSABLE_ENTITY}
)
# Where a field stream's state keeps which fetch of the definitions the target received.
DEFINITIONS_FETCHED_AT = "definitions_fetched_at"


# -- field definitions ------------------------------------------------------------------------

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
    """A v1 field definition renamed to the v2 vocabulary (notes section 4.1): ``key`` →
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
    path = "/personFields"
    read_scope = "contacts:read"


class OrganizationFieldsStream(FieldsStream):
    """``GET /api/v2/organizationFields``."""

    name = "organization_fields"
    path = "/organizationFields"
    read_scope = "contacts:read"


class DealFieldsStream(FieldsStream):
    """``GET /api/v2/dealFields``."""

    name = "deal_fields"
    path = "/dealFields"
    read_scope = "deals:read"


class ActivityFieldsStream(FieldsStream):
    """``GET /api/v2/activityFields``, or ``GET /api/v1/activityFields`` for OAuth apps without
    the ``admin`` scope.

    v2 ``activityFields`` is the only field list that needs OAuth scope ``admin``; v1 needs only
    ``activities:read`` (notes section 1, spec ``security``). On v2's 403 (a JSON error, not
    Cloudflare's HTML page) the stream reads v1 instead, renamed to the v2 field vocabulary,
    charged at v1's token cost, with one warning.
    """

    name = "activity_fields"
    path = "/activityFields"
    read_scope = "activities:read"  # of v1, the list read when v2 is refused

    def read_definitions(self) -> list[dict[str, Any]]:
        """v2 definitions, or v1's when v2 answers 403."""
        try:
            return super().read_definitions()
        except FieldListRefusedError as refused:
            if refused.status != HTTPStatus.FORBIDDEN or self.api_version != "v2":
                raise
            self.api_version, self.paginated = "v1", False
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
        return super().normalize(raw if self.api_version == "v2" else _v1_as_v2(raw))


class NoteFieldsStream(FieldsStream):
    """``GET /api/v1/noteFields`` (API v2 has none), renamed to the v2 field vocabulary."""

    name = "note_fields"
    path = "/noteFields"
    read_scope = "deals:read or contacts:read"
    api_version = "v1"
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


# -- catalogs ---------------------------------------------------------------------------------


class UsersStream(PipedriveStream):
    """``GET /api/v1/users`` (one response with every user)."""

    name = "users"
    path = "/users"
    api_version = "v1"
    paginated = False
    primary_keys = ("id",)


class PipelinesStream(PipedriveStream):
    """``GET /api/v2/pipelines``."""

    name = "pipelines"
    path = "/pipelines"
    primary_keys = ("id",)


class StagesStream(PipedriveStream):
    """``GET /api/v2/stages``."""

    name = "stages"
    path = "/stages"
    primary_keys = ("id",)


class ActivityTypesStream(PipedriveStream):
    """``GET /api/v1/activityTypes`` (one response with every type)."""

    name = "activity_types"
    path = "/activityTypes"
    api_version = "v1"
    paginated = False
    primary_keys = ("id",)


# -- incremental entities ---------------------------------------------------------------------


class ChangelogParent(V2IncrementalStream):
    """An entity whose changelog child is fetched for the objects that changed this run."""

    child_key: ClassVar[str]

    @cached_property
    def _children_selected(self) -> bool:
        return any(child.selected for child in self.child_streams)

    def generate_child_contexts(
        self,
        record: dict[str, Any],
        context: Context | None,  # noqa: ARG002 - one bookmark for all children
    ) -> Iterable[Context | None]:
        """One changelog fetch per object updated since the last run (none in a
        reconciliation pass for objects that did not change)."""
        if not self._children_selected or self.live:
            return  # the live mode makes no API request
        since = self.changes_since
        if since is None or (record.get("update_time") or "") >= since:
            yield {self.child_key: record["id"], "changes_since": since}


class PersonsStream(ChangelogParent):
    """``GET /api/v2/persons`` with marketing consent, where the account has it.

    ``marketing_status`` and ``doi_status`` "can only be included if the company has marketing
    app enabled" (spec v2 ``GET /persons``). On an account without it Pipedrive answers 400
    (or 403 or 422): the request is sent again without them, once per run, and the records lack
    the two fields (the schema keeps them).
    """

    name = "persons"
    path = "/persons"
    primary_keys = ("id",)
    child_key = "person_id"
    custom_fields_entity = "person_fields"
    extra_params: ClassVar[Mapping[str, str]] = {
        "include_fields": ",".join(MARKETING_INCLUDE_FIELDS)
    }

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any] | None = None) -> None:
        """Create the stream; marketing fields are asked for until Pipedrive refuses them."""
        super().__init__(tap=tap, schema=schema)
        self._marketing_app = True

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """No ``include_fields`` once the account turned out to have no marketing app."""
        params = super().get_url_params(context, next_page_token)
        if not self._marketing_app:
            params.pop("include_fields", None)
        return params

    def validate_response(self, response: requests.Response) -> None:
        """A 400, 403 or 422 to a request asking for marketing fields may mean: no marketing
        app."""
        try:
            super().validate_response(response)
        except FatalAPIError as exc:
            refused = response.status_code in MARKETING_REFUSALS
            if refused and _asks_marketing(response.request):
                reason = payload_of(response).get("error") or error_text(response)
                raise MarketingFieldsRefusedError(response.status_code, str(reason)) from exc
            raise

    def request_decorator(self, func: Callable) -> Callable:
        """On :class:`MarketingFieldsRefusedError`, send the request again without the marketing
        fields; if that succeeds, the account has no marketing app: say so once and stop
        asking for them. If it fails too, its own error is the real problem."""
        send = super().request_decorator(func)

        def send_with_fallback(request: requests.PreparedRequest, context: Context | None) -> Any:
            try:
                return send(request, context)
            except MarketingFieldsRefusedError as refused:
                response = send(_without_marketing(request), context)
                self._marketing_app = False
                self.logger.warning(
                    "Pipedrive refused include_fields=%s for persons (HTTP %s: %s): this "
                    "account has no marketing app, so persons are read without them and "
                    "marketing_status will be absent from their records",
                    ",".join(MARKETING_INCLUDE_FIELDS),
                    refused.status,
                    refused,
                )
                return response

        return send_with_fallback


def _asks_marketing(request: requests.PreparedRequest) -> bool:
    query = parse_qs(urlsplit(request.url or "").query)
    asked = {item for value in query.get("include_fields", []) for item in value.split(",")}
    return bool(asked & set(MARKETING_INCLUDE_FIELDS))


def _without_marketing(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """The same request without ``marketing_status``/``doi_status`` in ``include_fields``."""
    parts = urlsplit(request.url or "")
    pairs = [
        (name, ",".join(i for i in value.split(",") if i not in MARKETING_INCLUDE_FIELDS))
        if name == "include_fields"
        else (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    query = [(name, value) for name, value in pairs if name != "include_fields" or value]
    retry = request.copy()
    retry.prepare_url(urlunsplit(parts._replace(query=urlencode(query))), None)
    return retry


class OrganizationsStream(V2IncrementalStream):
    """``GET /api/v2/organizations``."""

    name = "organizations"
    path = "/organizations"
    primary_keys = ("id",)
    custom_fields_entity = "organization_fields"


class DealsStream(ChangelogParent):
    """Deals in two sorted sub-passes with their own bookmarks: ``GET /api/v2/deals`` (open,
    won, lost and deleted within Pipedrive's 30 days) and ``GET /api/v2/deals/archived``."""

    name = "deals"
    path = "/deals"
    primary_keys = ("id",)
    child_key = "deal_id"
    custom_fields_entity = "deal_fields"
    partition_contexts: ClassVar[list[dict[str, Any]] | None] = [
        {"is_archived": False},
        {"is_archived": True},
    ]
    extra_params: ClassVar[Mapping[str, str]] = {
        "status": "open,won,lost,deleted",
        "include_fields": "first_won_time",
    }

    def cost_path(self, context: Context | None) -> str:
        """``/deals/archived`` for the archived sub-pass."""
        return "/deals/archived" if context and context.get("is_archived") else "/deals"

    def get_url(self, context: Context | None) -> str:
        """The live or the archived list."""
        return f"{self.url_base}{self.cost_path(context)}"


class ActivitiesStream(V2IncrementalStream):
    """``GET /api/v2/activities`` with attendees.

    No ``custom_fields``: the v2 activity in the spec has none (unlike persons, organizations
    and deals), so asking for ``activityFields`` to convert them would cost 10 tokens (20 via
    the v1 fallback) per run for nothing. ``activity_fields`` still syncs the definitions.
    """

    name = "activities"
    path = "/activities"
    primary_keys = ("id",)
    extra_params: ClassVar[Mapping[str, str]] = {"include_fields": "attendees"}


class NotesStream(IncrementalStream):
    """``GET /api/v1/notes`` by ``update_time`` with keyset-safe offset paging."""

    name = "notes"
    path = "/notes"
    api_version = "v1"
    primary_keys = ("id",)

    def get_new_paginator(self) -> KeysetOffsetPaginator:
        """A paginator that survives notes being updated mid-sync."""
        self._paginator = KeysetOffsetPaginator(None)
        return self._paginator

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """``updated_since`` + ``start`` from the paginator, sorted by (update_time, id)."""
        since, start = next_page_token or (None, 0)
        params: dict[str, Any] = {
            # keyset paging overlaps one row per page, so a page must hold two
            "limit": max(self.page_size, 2),
            "start": start,
            "sort": "update_time ASC, id ASC",
        }
        if since is not None:
            params["updated_since"] = to_api_param(since)
        else:
            params.update(self.starting_params(context))
        return params

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The page's notes minus those already emitted (see the paginator)."""
        return self._paginator.accept(list(super().parse_response(response)))

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """v1 note with RFC 3339 times and ``is_deleted`` (= not ``active_flag``)."""
        record = super().post_process(row, context)
        if record is not None:
            active = record.get("active_flag")
            record["is_deleted"] = None if active is None else not active
        return record


# -- changelogs -------------------------------------------------------------------------------


class ChangelogStream(PipedriveStream):
    """Field-level history of the objects the parent emitted (v1 ``/{entity}/{id}/changelog``).

    Only changes at or after the parent's previous bookmark are emitted: older ones were
    emitted when the object last changed. Each change gets a stable ``id`` (a hash of what it
    is), so a change re-read at the inclusive boundary overwrites itself downstream.
    """

    api_version = "v1"
    primary_keys = ("id",)
    replication_key = "time"
    state_partitioning_keys: ClassVar[list[str]] = []  # one bookmark, not one per object
    selected_by_default = False
    parent_key: ClassVar[str]
    cost_template: ClassVar[str]

    def cost_path(self, context: Context | None) -> str:  # noqa: ARG002
        """All changelog calls of an entity cost the same."""
        return self.cost_template

    def validate_response(self, response: requests.Response) -> None:
        """A 404 means the object was deleted after the parent listed it: no changes to read."""
        if response.status_code == HTTPStatus.NOT_FOUND:
            self.logger.warning(
                "No changelog for %s (HTTP 404: deleted since it was listed?)",
                urlparse(response.url).path,
            )
            set_payload(response, {"success": True, "data": [], "additional_data": {}})
            self._pipedrive.budget.charge(self.name, self._request_cost)
            return
        super().validate_response(response)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Drop changes older than the parent's bookmark; add the object id and a key."""
        record = super().post_process(row, context)
        if record is None or context is None:
            return record
        since = context.get("changes_since")
        if since and (record.get("time") or "") < since:
            return None
        parent_id = context[self.parent_key]
        record[self.parent_key] = parent_id
        identity = "|".join(
            str(part)
            for part in (
                parent_id,
                record.get("time"),
                record.get("field_key"),
                record.get("old_value"),
                record.get("new_value"),
                record.get("actor_user_id"),
                record.get("change_source"),
            )
        )
        record["id"] = hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
        return record


class PersonChangelogStream(ChangelogStream):
    """``GET /api/v1/persons/{id}/changelog``."""

    name = "person_changelog"
    path = "/persons/{person_id}/changelog"
    cost_template = "/persons/{id}/changelog"
    parent_stream_type = PersonsStream
    parent_key = "person_id"


class DealChangelogStream(ChangelogStream):
    """``GET /api/v1/deals/{id}/changelog``."""

    name = "deal_changelog"
    path = "/deals/{deal_id}/changelog"
    cost_template = "/deals/{id}/changelog"
    parent_stream_type = DealsStream
    parent_key = "deal_id"


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
    UsersStream,
    PipelinesStream,
    StagesStream,
    ActivityTypesStream,
    PersonChangelogStream,
    DealChangelogStream,
)


# -- the run's own account --------------------------------------------------------------------


class ApiUsageStream(Stream):
    """``api_usage``: one record per run with the Pipedrive API requests and tokens it spent.

    No endpoint: the tap's own :class:`~tap_pipedrive.budget.TokenBudget` is the source. The tap
    syncs it after every other stream (and when a run stops early), so the record covers the
    whole run; any Singer target can store it, target-cdp keeps it in ``api_usage``.
    """

    name = "api_usage"
    primary_keys = ("run_id",)
    schema = th.PropertiesList(
        th.Property("run_id", th.StringType, required=True, description="A new UUID per run."),
        th.Property("started_at", th.DateTimeType, description="When the tap started."),
        th.Property("finished_at", th.DateTimeType, description="When this record was made."),
        th.Property("requests", th.IntegerType, description="API requests answered (not 429)."),
        th.Property("tokens", th.IntegerType, description="Their x-token-cost, summed."),
        th.Property(
            "token_budget", th.IntegerType, description="The daily_token_budget setting, if set."
        ),
        th.Property(
            "outcome",
            th.StringType,
            allowed_values=["complete", "budget_spent", "failed"],
            description="complete, budget_spent (stopped cleanly), or failed.",
        ),
        th.Property(
            "streams",
            th.ArrayType(
                th.ObjectType(
                    th.Property("stream", th.StringType),
                    th.Property("requests", th.IntegerType),
                    th.Property("tokens", th.IntegerType),
                )
            ),
            description="Requests and tokens per stream that sent any.",
        ),
    ).to_dict()

    def __init__(self, tap: TapPipedrive) -> None:
        """The account of ``tap``'s run."""
        super().__init__(tap=tap)
        self._pipedrive = tap
        #: Whether this run's record went out (a run stopped early sends it from ``run_sync``).
        self.sent = False

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """The run's single record, as the budget stands now."""
        tap, budget = self._pipedrive, self._pipedrive.budget
        self.sent = True
        yield {
            "run_id": tap.run_id,
            "started_at": to_rfc3339(tap.started_at),
            "finished_at": to_rfc3339(dt.datetime.now(tz=dt.UTC)),
            "requests": sum(budget.requests_by_stream.values()),
            "tokens": budget.spent,
            "token_budget": budget.limit,
            "outcome": tap.outcome,
            "streams": [
                {"stream": stream, "requests": budget.requests_by_stream[stream], "tokens": tokens}
                for stream, tokens in sorted(budget.spent_by_stream.items())
            ],
        }


STREAM_NAMES = frozenset(cls.name for cls in (*FIELD_STREAMS, *OTHER_STREAMS, ApiUsageStream))
