"""Base streams: requests, retries, rate limits, tokens, record shaping and table versions.

* :class:`PipedriveStream` — one Pipedrive list endpoint: URL from ``api_url``, shared
  authenticator, orjson parsing inside the retry loop, pacing from the rate-limit headers,
  token accounting, and records shaped to the stream's schema (timestamps to RFC 3339 UTC,
  custom fields to readable names). FULL_TABLE streams carry a table version per run and close
  it with ACTIVATE_VERSION once the whole list has been read.
* :class:`IncrementalStream` — ``update_time`` bookmarks, sorted ascending so an interrupted run
  resumes from its last record, plus the periodic reconciliation pass (see
  :mod:`tap_pipedrive.reconciliation`). In the live mode (``webhook_spool`` set) it reads the
  webhook events spooled after its position instead of the list (no API request), turned into
  the rows a list would return (:mod:`tap_pipedrive.webhook_records`) and shaped by the same
  ``post_process``; catalogs emit nothing, so they keep what the polling sync delivered.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

import backoff
import requests
import singer_sdk.singerlib as singer
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE

from tap_pipedrive import reconciliation, webhook_records
from tap_pipedrive.auth import PipedriveOAuthAuthenticator
from tap_pipedrive.custom_fields import CustomFieldSet
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.errors import (
    ApiUnreachableError,
    AuthenticationError,
    BudgetExhausted,
    ConfigError,
    RateLimited,
    TransientResponseError,
)
from tap_pipedrive.pagination import CursorPaginator
from tap_pipedrive.rate_limit import daily_tokens_remaining, refusal
from tap_pipedrive.response import error_text, parse_payload, payload_of, unreadable_records
from tap_pipedrive.timestamps import format_utc, parse_start_date, to_api_param, to_rfc3339
from tap_pipedrive.transport import (
    Attempts,
    GuardedSession,
    is_wrong_address,
    network_failure,
    redact_url,
    request_label,
)

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.tap import TapPipedrive

# A 429 that is still there after this many waits for the burst window to reset is the daily
# budget (Pipedrive does not always say so in a header): stop cleanly instead of hammering.
MAX_RATE_LIMIT_WAITS = 5
MAX_BACKOFF_SECONDS = 60.0
# What the SDK retries: its own list, given here because the tap runs the backoff itself.
RETRIED_FAILURES = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def load_schema(stream_name: str) -> dict[str, Any]:
    """The JSON Schema generated from the OpenAPI specs for ``stream_name``."""
    text = resources.files("tap_pipedrive.schemas").joinpath(f"{stream_name}.json").read_text()
    return json.loads(text)


def _type_names(property_schema: Mapping[str, Any]) -> set[str]:
    kind = property_schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


class PipedriveStream(RESTStream[Any]):
    """A Pipedrive list endpoint."""

    endpoints: ClassVar[tuple[Endpoint, ...]]
    """Every endpoint this stream may call, with its token cost (checked against the specs by
    the tests); the first is the one it reads unless :meth:`endpoint` picks another."""
    extra_params: ClassVar[Mapping[str, str]] = {}
    """Query parameters every request of this stream sends."""
    paginated: bool = True
    """False for endpoints that return everything in one response."""
    custom_fields_entity: ClassVar[str | None] = None
    """The field stream (``person_fields``...) whose custom fields this stream's records carry."""

    # Records are shaped to the schema by post_process (below), which is cheaper than the
    # SDK's generic recursive conformance and produces the same result for Pipedrive's JSON.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any] | None = None) -> None:
        """Create the stream; the schema defaults to the one generated from the specs."""
        self._pipedrive = tap
        self._request_cost = 0
        super().__init__(tap=tap, schema=schema)

    # -- schema -------------------------------------------------------------------------------

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

    @property
    def live(self) -> bool:
        """Live mode: records come from the webhook spool, not from the lists."""
        return bool(self.config.get("webhook_spool"))

    @cached_property
    def custom_field_set(self) -> CustomFieldSet | None:
        """The custom fields records of this stream carry (None if they carry none, or if
        Pipedrive refused the field list)."""
        if self.custom_fields_entity is None or not self.config.get("include_custom_fields", True):
            return None
        return self._pipedrive.custom_field_set(self.custom_fields_entity)

    # -- requests -----------------------------------------------------------------------------

    def endpoint(self, context: Context | None) -> Endpoint:  # noqa: ARG002
        """The endpoint a request in ``context`` calls, and the tokens it pays."""
        return self.endpoints[0]

    @property
    def path(self) -> str:  # type: ignore[override] - the SDK's class attribute, derived here
        """The endpoint's path after ``url_base``."""
        return self.endpoint(None).path

    @property
    def url_base(self) -> str:
        """``{api_url}/api/v1`` or ``{api_url}/api/v2``."""
        return f"{self._pipedrive.api_base_url}/api/{self.endpoint(None).api_version}"

    @property
    def authenticator(self) -> Any:
        """The run's authenticator (API token header or OAuth bearer), shared by all streams."""
        return self._pipedrive.authenticator

    @property
    def timeout(self) -> tuple[float, float]:  # type: ignore[override] - requests takes a pair
        """``(connect_timeout, request_timeout)``: seconds to connect, then to get an answer."""
        return (
            float(self.config.get("connect_timeout", 10)),
            float(self.config.get("request_timeout", 30)),
        )

    @property
    def requests_session(self) -> requests.Session:
        """A session that refuses redirects carrying the credentials to another host."""
        if not isinstance(self._requests_session, GuardedSession):
            self._requests_session = GuardedSession()
        return self._requests_session

    @property
    def page_size(self) -> int:
        """``page_size`` records per request (Pipedrive's maximum is 500)."""
        return int(self.config.get("page_size", 500))

    def get_new_paginator(self) -> BaseAPIPaginator | None:
        """Cursor pagination, or None (single page) for unpaginated endpoints."""
        return CursorPaginator() if self.paginated else None

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002 - subclasses use it
        next_page_token: Any,
    ) -> dict[str, Any]:
        """Page size, cursor and the stream's extra parameters."""
        params: dict[str, Any] = dict(self.extra_params)
        if self.paginated:
            params["limit"] = self.page_size
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    def request_decorator(self, func: Callable) -> Callable:
        """Pace, budget and rate-limit every attempt; retry transient failures with backoff.

        Inner loop (per attempt): refuse to send past ``daily_token_budget``, wait for the burst
        window, send; on 429 wait for the window to reset and try again, and after
        ``MAX_RATE_LIMIT_WAITS`` such waits treat the budget as spent. Outer (backoff, as the
        SDK's but logging one warning per retry): 5xx, timeouts, dropped connections and
        unreadable bodies, with exponential waits; not a refused connection or a host name that
        does not exist (the address is wrong, waiting will not help), nor a fourth time an
        answer that timed out three times in a row (:class:`Attempts`). A failure that survives
        every attempt leaves as :class:`ApiUnreachableError`, one line naming the host and
        ``api_url``.
        """
        budget = self._pipedrive.budget
        pacer = self._pipedrive.pacer

        def send(prepared_request: requests.PreparedRequest, context: Context | None) -> Any:
            cost = self.endpoint(context).token_cost
            for _ in range(MAX_RATE_LIMIT_WAITS):
                budget.reserve(cost)
                pacer.wait_for_slot()
                self._request_cost = cost
                try:
                    return func(prepared_request, context)
                except RateLimited as exc:
                    self.logger.info(
                        "Pipedrive rate limit reached; waiting %.1f s for the window to reset",
                        exc.wait_seconds,
                    )
                    pacer.block_for(exc.wait_seconds)
            msg = (
                f"Pipedrive kept answering 429 after {MAX_RATE_LIMIT_WAITS} waits for the "
                "rate-limit window to reset; the daily token budget is probably spent"
            )
            raise BudgetExhausted(msg)

        def send_or_explain(request: requests.PreparedRequest, context: Context | None) -> Any:
            attempts = Attempts()
            retrying = backoff.on_exception(
                self.backoff_wait_generator,
                RETRIED_FAILURES,
                max_tries=self.backoff_max_tries,
                on_backoff=self.backoff_handler,
                giveup=attempts.give_up,
                jitter=self.backoff_jitter,
                logger=None,
            )(send)
            try:
                return retrying(request, context)
            except RETRIED_FAILURES as exc:
                tries = self.backoff_max_tries()
                counted = f"all {tries}" if attempts.failed >= tries else f"{attempts.failed}"
                said = "" if is_wrong_address(exc) else f" on {counted} attempts"
                msg = (
                    f"{self._where(request)} failed{said}: "
                    f"{self._failure(exc)}; {self._advice(exc)}"
                )
                raise ApiUnreachableError(msg) from None

        return send_or_explain

    def backoff_handler(self, details: Any) -> None:
        """One warning per retry: the request, its host, what happened and the next wait."""
        request = details["args"][0]
        self.logger.warning(
            "%s failed (%s); retrying in %.1f s (attempt %d of %d)",
            self._where(request),
            self._failure(details["exception"]),
            details.get("wait") or 0.0,
            details["tries"] + 1,
            self.backoff_max_tries(),
        )

    @staticmethod
    def _where(request: requests.PreparedRequest | requests.Response) -> str:
        """``GET /api/v2/persons on api.pipedrive.com``: the request and its host, no query."""
        return request_label(request.url or "")

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, RetriableAPIError):
            return str(exc)
        connect, read = self.timeout
        return network_failure(exc, connect, read)

    def _advice(self, exc: BaseException) -> str:
        """What to check: the address the tap used, or (it answered) Pipedrive's status."""
        if isinstance(exc, RetriableAPIError):
            return "Pipedrive may be down, try again later"
        base = redact_url(self._pipedrive.api_base_url)
        if self.config.get("api_url") or not isinstance(
            self.authenticator, PipedriveOAuthAuthenticator
        ):
            later = "" if is_wrong_address(exc) else " or try again later"
            return f"check api_url ({base}){later}"
        return f"check the OAuth token's api_domain ({base}) or set api_url"

    def backoff_wait_generator(self) -> Any:
        """Exponential waits from ``retry_base_delay`` seconds, capped at a minute."""
        base = float(self.config.get("retry_base_delay", 1.0))
        return backoff.expo(base=2, factor=base, max_value=MAX_BACKOFF_SECONDS)

    def backoff_max_tries(self) -> int:
        """Attempts per request before a transient failure fails the run."""
        return int(self.config.get("max_retries", 6))

    def validate_response(self, response: requests.Response) -> None:
        """Classify a response: rate limit, budget, auth, transient, fatal, or good JSON."""
        headers = response.headers
        self._pipedrive.pacer.observe(headers)
        status = response.status_code
        where = self._where(response)
        if status == 429:  # noqa: PLR2004
            raise refusal(headers, self._request_cost, where)
        self._pipedrive.budget.charge(self.name, self._request_cost)
        if status == 401:  # noqa: PLR2004
            self._handle_unauthorized(where)
        if status >= 500 or (status == 403 and parse_payload(response) is None):  # noqa: PLR2004
            # 5xx (incl. Cloudflare's 524) and Cloudflare's HTML 403 are transient.
            raise TransientResponseError(f"HTTP {status}", response)
        if status >= 400:  # noqa: PLR2004
            msg = f"Pipedrive answered HTTP {status} for {where}: {error_text(response)}"
            raise FatalAPIError(msg)
        payload = parse_payload(response)
        if payload is None:
            msg = f"an unreadable or empty JSON body (HTTP {status})"
            raise TransientResponseError(msg, response)
        if payload.get("success") is False:
            msg = f"Pipedrive reported an error for {where}: {error_text(response)}"
            raise FatalAPIError(msg)
        if daily_tokens_remaining(headers) == 0:
            self._pipedrive.budget.exhaust("Pipedrive reports 0 daily tokens remaining")

    def _handle_unauthorized(self, where: str) -> None:
        auth = self.authenticator
        if isinstance(auth, PipedriveOAuthAuthenticator) and not auth.is_token_fresh():
            auth.invalidate()  # expired or revoked early: refresh and retry once
            raise TransientResponseError("HTTP 401; refreshing the OAuth access token")
        kind = (
            "OAuth access token" if isinstance(auth, PipedriveOAuthAuthenticator) else "api_token"
        )
        msg = f"Pipedrive rejected the {kind} (HTTP 401 for {where}); check the credentials"
        raise AuthenticationError(msg)

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The ``data`` array of the (already parsed) payload; a record that could not be
        parsed is skipped with one warning naming it, and the page's other records are read."""
        for skipped in unreadable_records(response):
            self.logger.warning(
                "Skipped record id %s of %s: %s; the page's other records were read",
                "unknown" if skipped.record_id is None else skipped.record_id,
                self._where(response),
                skipped.reason,
            )
        data = payload_of(response).get("data")
        if data is None:
            return []
        return data if isinstance(data, list) else [data]

    # -- records ------------------------------------------------------------------------------

    @cached_property
    def _shape(self) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...], bool]:
        properties = self.effective_schema["properties"]
        keys = frozenset(properties) - {"custom_fields"}
        times = tuple(k for k, v in properties.items() if v.get("format") == "date-time")
        booleans = tuple(k for k, v in properties.items() if "boolean" in _type_names(v))
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

    # -- table versions for FULL_TABLE streams ------------------------------------------------

    def fetch_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The raw records of the list, page after page."""
        return self.request_records(context)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of the list; a FULL_TABLE stream versions them and activates the version."""
        if self.replication_method != REPLICATION_FULL_TABLE:
            yield from self.fetch_records(context)
            return
        if self.live:
            return  # webhooks carry no catalogs: the polling sync keeps them
        state = self.stream_state
        version = reconciliation.next_version(state.get(reconciliation.TABLE_VERSION), self.now)
        self._stream_version = version
        yield from self.fetch_records(context)
        # Reached only when the whole list was read (not on a dry run or an error).
        self._write_activate_version_message(version)
        state[reconciliation.TABLE_VERSION] = version

    @property
    def now(self) -> dt.datetime:
        """The run's start time (one clock for every decision of the run)."""
        return dt.datetime.fromtimestamp(self._pipedrive.initialized_at / 1000, tz=dt.UTC)

    @cached_property
    def incomplete_output(self) -> str | None:
        """Why this run's records are not every record Pipedrive holds (None: they are)."""
        incremental = self.replication_method != REPLICATION_FULL_TABLE
        return reconciliation.why_incomplete(
            self.name,
            self.primary_keys or [],
            self.config.get("stream_maps"),
            start_date=self.config.get("start_date") if incremental else None,
            is_child=self.parent_stream_type is not None,
        )

    def _write_activate_version_message(self, full_table_version: int) -> None:
        """ACTIVATE_VERSION only after every record Pipedrive holds: after fewer it would
        retire, downstream, the rows this run left out (see :mod:`reconciliation`)."""
        if self.incomplete_output is None:
            super()._write_activate_version_message(full_table_version)
        else:
            self.logger.info("No ACTIVATE_VERSION for '%s': %s", self.name, self.incomplete_output)


class IncrementalStream(PipedriveStream):
    """A list read by ``update_time`` ascending, resumable, with periodic reconciliation."""

    replication_key = "update_time"
    partition_contexts: ClassVar[list[dict[str, Any]] | None] = None
    """Sub-passes with their own sorted bookmark (deals: live and archived)."""

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any] | None = None) -> None:
        """Create the stream; reconciliation is planned on the first sync of the run."""
        super().__init__(tap=tap, schema=schema)
        self._planned = False
        self._changes_since: str | None = None

    @property
    def is_sorted(self) -> bool:  # type: ignore[override]
        """Lists are read sorted by ``update_time``; spooled events arrive in any order."""
        return not self.live

    @property
    def partitions(self) -> list[dict] | None:
        """The sub-passes. The SDK asks for them once before syncing: this is where the run
        decides whether it is a reconciliation pass (it must precede the bookmarks' use).
        The live mode has one position per stream and no pass."""
        if self.live:
            return None
        self._plan_once()
        return [dict(p) for p in self.partition_contexts] if self.partition_contexts else None

    def _partition_states(self) -> list[dict[str, Any]]:
        if not self.partition_contexts:
            return [self.stream_state]
        return [self.get_context_state(dict(p)) for p in self.partition_contexts]

    def _plan_once(self) -> None:
        if self._planned or self.replication_method == REPLICATION_FULL_TABLE:
            return
        self._planned = True
        state = self.stream_state
        partitions = self._partition_states()
        interval = float(self.config.get("reconciliation_interval_days", 7))
        if self.incomplete_output is not None:
            reconciliation.forgo(state, partitions)
            self.logger.info(
                "No reconciliation pass for '%s' (records it leaves out are not synced, never "
                "marked deleted): %s",
                self.name,
                self.incomplete_output,
            )
        elif reconciliation.IN_PROGRESS not in state and reconciliation.is_due(
            state, self.now, interval
        ):
            planned = reconciliation.begin_pass(state, partitions, self.now)
            self.logger.info(
                "Reconciliation pass %s: reading '%s' in full to detect deleted records",
                planned["version"],
                self.name,
            )
        in_pass = state.get(reconciliation.IN_PROGRESS)
        if in_pass is not None:
            self._stream_version = int(in_pass["version"])
            self._changes_since = in_pass.get("changes_since")
        else:
            # An incomplete stream's records carry no version: the target keeps the one a
            # complete sync stored, so that sync's next ACTIVATE_VERSION judges them rightly.
            complete = self.incomplete_output is None
            self._stream_version = state.get(reconciliation.TABLE_VERSION) if complete else None
            bookmarks = [s.get("replication_key_value") for s in partitions]
            self._changes_since = min((b for b in bookmarks if b), default=None)

    @property
    def changes_since(self) -> str | None:
        """Objects updated at or after this time (RFC 3339) changed since the last run; None:
        every object (first run without ``start_date``)."""
        start = self.config.get("start_date")
        values = [to_rfc3339(self._changes_since)] if self._changes_since else []
        if start:
            values.append(format_utc(parse_start_date(str(start))))
        return max((v for v in values if v), default=None)

    def starting_params(self, context: Context | None) -> dict[str, Any]:
        """``updated_since`` from the bookmark (or ``start_date``), in Pipedrive's format."""
        start = self.get_starting_timestamp(context)
        return {"updated_since": to_api_param(start)} if start else {}

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The sorted list from the bookmark; closes a reconciliation pass when it completes.
        In the live mode: the spooled events instead."""
        if self.live:
            yield from self.live_records()
            return
        self._plan_once()
        yield from super().get_records(context)
        in_pass = self.stream_state.get(reconciliation.IN_PROGRESS)
        if in_pass is None or self.replication_method == REPLICATION_FULL_TABLE:
            return
        version = int(in_pass["version"])
        reconciliation.finish_partition(self.get_context_state(context), version)
        partitions = self._partition_states()
        if reconciliation.pass_complete(partitions, version):
            reconciliation.complete_pass(self.stream_state, partitions)
            self._write_activate_version_message(version)
            self.logger.info("Reconciliation pass %s of '%s' complete", version, self.name)

    # -- live mode ----------------------------------------------------------------------------

    @cached_property
    def _integer_keys(self) -> tuple[str, ...]:
        properties = self.effective_schema["properties"]
        return tuple(
            key
            for key, value in properties.items()
            if "integer" in _type_names(value) and "string" not in _type_names(value)
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
        through = self._pipedrive.spool_through
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
        events = self._pipedrive.spool.read_after(position, entity, through)
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
        if not unknown or not self._pipedrive.refresh_fields(str(self.custom_fields_entity)):
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
        self._pipedrive.mapper.register_raw_stream_schema(
            self.name, self.effective_schema, self.primary_keys or []
        )
        self._stream_maps = []
        self._write_schema_message()


class V2IncrementalStream(IncrementalStream):
    """An API v2 list filtered by ``updated_since`` and sorted by ``update_time`` ascending."""

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """Sort by update_time ascending from the bookmark."""
        params = super().get_url_params(context, next_page_token)
        params.update(sort_by="update_time", sort_direction="asc")
        params.update(self.starting_params(context))
        return params
