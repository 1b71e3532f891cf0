"""Entities: the incremental lists (persons, organizations, deals, activities, notes, leads),
read by ``update_time`` from the bookmark; persons and deals are the parents of the changelogs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from singer_sdk.exceptions import FatalAPIError

from tap_pipedrive.custom_fields import gather_v1_custom_fields
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.errors import MarketingFieldsRefusedError
from tap_pipedrive.incremental import IncrementalStream, V2IncrementalStream
from tap_pipedrive.pagination import KeysetOffsetPaginator, NewestFirstPaginator
from tap_pipedrive.response import error_text, payload_of
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
    endpoints = (Endpoint("v2", "/persons", 10),)
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
    endpoints = (Endpoint("v2", "/organizations", 10),)
    primary_keys = ("id",)
    custom_fields_entity = "organization_fields"


class DealsStream(ChangelogParent):
    """Deals in two sorted sub-passes with their own bookmarks: ``GET /api/v2/deals`` (open,
    won, lost and deleted within Pipedrive's 30 days) and ``GET /api/v2/deals/archived``.

    ``source_lead_id`` (the lead a deal was made from) comes only through ``include_fields``,
    which costs nothing more: a call costs its endpoint's tokens whatever it includes.
    """

    name = "deals"
    endpoints = (Endpoint("v2", "/deals", 10), Endpoint("v2", "/deals/archived", 20))
    primary_keys = ("id",)
    child_key = "deal_id"
    custom_fields_entity = "deal_fields"
    partition_contexts: ClassVar[list[dict[str, Any]] | None] = [
        {"is_archived": False},
        {"is_archived": True},
    ]
    extra_params: ClassVar[Mapping[str, str]] = {
        "status": "open,won,lost,deleted",
        "include_fields": "first_won_time,source_lead_id",
    }

    def endpoint(self, context: Context | None) -> Endpoint:
        """``/deals/archived`` for the archived sub-pass."""
        live, archived = self.endpoints
        return archived if context and context.get("is_archived") else live

    def get_url(self, context: Context | None) -> str:
        """The live or the archived list."""
        return f"{self.url_base}{self.endpoint(context).path}"


class ActivitiesStream(V2IncrementalStream):
    """``GET /api/v2/activities`` with attendees.

    No ``custom_fields``: the v2 activity in the spec has none (unlike persons, organizations
    and deals), so asking for ``activityFields`` to convert them would cost 10 tokens (20 via
    the v1 fallback) per run for nothing. ``activity_fields`` still syncs the definitions.
    """

    name = "activities"
    endpoints = (Endpoint("v2", "/activities", 10),)
    primary_keys = ("id",)
    extra_params: ClassVar[Mapping[str, str]] = {"include_fields": "attendees"}


class NotesStream(IncrementalStream):
    """``GET /api/v1/notes`` by ``update_time`` with keyset-safe offset paging."""

    name = "notes"
    endpoints = (Endpoint("v1", "/notes", 20),)
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


def _position(row: Mapping[str, Any]) -> tuple[str, str]:
    return (to_rfc3339(row.get("update_time")) or "", str(row["id"]))


class LeadsStream(IncrementalStream):
    """Leads: ``GET /api/v1/leads`` and ``GET /api/v1/leads/archived``, by ``update_time``.

    A lead's id is a UUID; its custom fields are the deal fields ("leads inherit the custom
    fields' structure from deals", spec v1 ``GET /leads``), sent as v1 top-level hash keys and
    left out when unset; a deleted or converted lead leaves both lists (the reconciliation pass
    detects it). The two lists are two sub-passes with their own bookmarks, as deals' are:

    * ``/leads`` (20 tokens a page) takes ``updated_since``: it is read exactly as notes are
      (keyset-safe offset paging sorted by ``update_time, id``);
    * ``/leads/archived`` (40 tokens a page) takes no time filter. Read oldest first, every run
      would pay for every archived lead; it is read newest first instead, only down to the
      sub-pass's bookmark (one page when nothing changed), and the rows newer than the
      bookmark are handed on oldest first, so the bookmark moves as for any sorted list. A
      first run and a reconciliation pass (no bookmark) read it all, holding its rows in
      memory until its end.
    """

    name = "leads"
    endpoints = (Endpoint("v1", "/leads", 20), Endpoint("v1", "/leads/archived", 40))
    primary_keys = ("id",)
    custom_fields_entity = "deal_fields"
    partition_contexts = DealsStream.partition_contexts
    # The live list or the archived one, as deals choose theirs; the live list paged as notes'.
    endpoint = DealsStream.endpoint
    get_url = DealsStream.get_url
    _live_list_params = NotesStream.get_url_params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the stream; which sub-pass runs is known when its records are fetched."""
        super().__init__(*args, **kwargs)
        self._newest_first = False
        self._floor: str | None = None
        self._paginator: KeysetOffsetPaginator | NewestFirstPaginator | None = None

    def fetch_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The live list as notes are read; the archived list newest first down to the
        bookmark, its rows handed on oldest first (each lead once, as first read)."""
        self._newest_first = bool(context and context.get("is_archived"))
        if not self._newest_first:
            yield from super().fetch_records(context)
            return
        start = self.get_starting_timestamp(context)
        self._floor = to_rfc3339(start) if start else None
        newer: dict[str, dict[str, Any]] = {}
        for row in super().fetch_records(context):
            if self._floor is None or _position(row)[0] >= self._floor:
                newer.setdefault(row["id"], row)
        yield from sorted(newer.values(), key=_position)

    def get_new_paginator(self) -> KeysetOffsetPaginator | NewestFirstPaginator:
        """Keyset-safe offsets for the live list, newest first to the bookmark for the other."""
        if self._newest_first:
            self._paginator = NewestFirstPaginator(self._floor)
        else:
            self._paginator = KeysetOffsetPaginator(None)
        return self._paginator

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """Notes' parameters for the live list; ``start`` and newest first for the archived."""
        if not self._newest_first:
            return self._live_list_params(context, next_page_token)
        return {
            "limit": self.page_size,
            "start": next_page_token or 0,
            "sort": "update_time DESC, id DESC",
        }

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """A live page minus the rows already emitted (the keyset paginator); an archived page
        whole."""
        rows = list(super().parse_response(response))
        if isinstance(self._paginator, KeysetOffsetPaginator):
            return self._paginator.accept(rows)
        return rows

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """The lead's custom-field keys gathered into ``custom_fields`` first."""
        converter = self._custom_converter
        if converter is not None:
            row = {**row, "custom_fields": gather_v1_custom_fields(row, converter.converters)}
        return super().post_process(row, context)

    def live_records(self) -> Iterator[dict[str, Any]]:
        """None: the live mode applies webhook events of the five core objects; the polling
        sync keeps leads."""
        return iter(())
