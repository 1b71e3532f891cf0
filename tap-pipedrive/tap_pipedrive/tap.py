"""tap-pipedrive: the stream list, the run-wide services streams share, and how a run starts
and stops. Settings are in :mod:`tap_pipedrive.settings`, the command line in
:mod:`tap_pipedrive.cli`, the streams in :mod:`tap_pipedrive.streams`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities

from tap_pipedrive import metrics_log, select_patterns
from tap_pipedrive.auth import (
    DEFAULT_TOKEN_URL,
    PipedriveOAuthAuthenticator,
    api_token_authenticator,
)
from tap_pipedrive.budget import TokenBudget
from tap_pipedrive.catalog_cache import CatalogCache, catalog_key
from tap_pipedrive.cli import REPORTED_ELSEWHERE, PipedriveCommand
from tap_pipedrive.custom_fields import CustomFieldSet
from tap_pipedrive.errors import BudgetExhausted, ConfigError, PipedriveError
from tap_pipedrive.output import BufferedMsgSpecWriter
from tap_pipedrive.rate_limit import RequestPacer
from tap_pipedrive.settings import (
    CONFIG_JSONSCHEMA,
    DEFAULT_API_URL,
    config_errors,
    secret_names,
    split_api_url,
)
from tap_pipedrive.state import check_state, read_state
from tap_pipedrive.streams import (
    FIELD_STREAMS,
    OTHER_STREAMS,
    STREAM_NAMES,
    ApiUsageStream,
    FieldsStream,
)
from tap_pipedrive.transport import redact_url

if TYPE_CHECKING:  # imported when a live sync reads the spool: it brings SQLAlchemy
    from tap_pipedrive.spool_reader import SpoolReader

# Set by pipedrive-webhooks for the applying job it starts: the run to report the position to.
RUN_ID_VARIABLE = "PIPEDRIVE_WEBHOOKS_RUN_ID"


class TapPipedrive(Tap):
    """Singer tap for Pipedrive (API v2, and v1 where v2 has no endpoint)."""

    name = "tap-pipedrive"
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter
    capabilities = [  # noqa: RUF012 - the SDK declares it a plain class attribute
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = CONFIG_JSONSCHEMA

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the tap; refuse a state that is not shaped like one, and a catalog that selects
        a stream the tap does not have."""
        if isinstance(kwargs.get("state"), (dict, list)):
            check_state(kwargs["state"])
        super().__init__(*args, **kwargs)
        #: This run, as the ``api_usage`` stream reports it.
        self.run_id = str(uuid.uuid4())
        self.started_at = dt.datetime.now(tz=dt.UTC)
        self.outcome = "complete"
        self._field_streams: dict[str, FieldsStream] = {}
        self._refreshed_fields: dict[str, bool] = {}
        if self.input_catalog is not None:
            unknown = sorted(
                entry.tap_stream_id
                for entry in self.input_catalog.streams
                if entry.tap_stream_id not in STREAM_NAMES
                and (entry.metadata.root.selected or entry.metadata.root.selected_by_default)
            )
            if unknown:
                msg = (
                    f"the catalog selects unknown stream(s) {', '.join(unknown)}; "
                    f"tap-pipedrive has: {', '.join(sorted(STREAM_NAMES))}"
                )
                raise ConfigError(msg)

    # -- configuration ----------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate settings and report every problem in one line (never a value of a secret)."""
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        errors = config_errors(self.config, schema, self.secret_settings)
        if errors and raise_errors:
            summary = "invalid configuration: " + "; ".join(errors)
            raise ConfigValidationError(summary, errors=[summary], schema=schema)
        return errors

    @cached_property
    def secret_settings(self) -> frozenset[str]:
        """Names of the settings whose values must never be printed."""
        return secret_names(self.config_jsonschema)

    # -- run-wide services --------------------------------------------------------------------

    @cached_property
    def authenticator(self) -> Any:
        """The API token header, or the OAuth refresh-token flow."""
        if self.config.get("api_token"):
            return api_token_authenticator(str(self.config["api_token"]))
        return PipedriveOAuthAuthenticator(
            client_id=str(self.config["client_id"]),
            client_secret=str(self.config["client_secret"]),
            refresh_token=str(self.config["refresh_token"]),
            token_url=str(self.config.get("oauth_token_url") or DEFAULT_TOKEN_URL),
            timeout=(
                float(self.config.get("connect_timeout", 10)),
                float(self.config.get("request_timeout", 30)),
            ),
            max_tries=int(self.config.get("max_retries", 6)),
            retry_base_delay=float(self.config.get("retry_base_delay", 1.0)),
        )

    @property
    def api_base_url(self) -> str:
        """Where API calls go: ``api_url`` if set, else the OAuth ``api_domain``, else the default.

        An ``api_url`` the user set wins over the token's ``api_domain``: it is the company domain
        or a gateway/local Pipedrive they chose, and a token server may name another host.
        """
        auth = self.authenticator
        if isinstance(auth, PipedriveOAuthAuthenticator):
            auth.ensure_token()
            if auth.api_domain and not self.config.get("api_url"):
                return auth.api_domain
        return self._configured_api_url

    @cached_property
    def _configured_api_url(self) -> str:
        """``api_url`` without a pasted ``/api/v1``, ``/api/v2`` or ``/v1`` (said once)."""
        base, dropped = split_api_url(str(self.config.get("api_url") or DEFAULT_API_URL))
        if dropped:
            self.logger.warning(
                "api_url ends in %s, which the tap adds itself: using %s",
                dropped,
                redact_url(base),
            )
        return base

    @cached_property
    def budget(self) -> TokenBudget:
        """Tokens spent by this run, capped by ``daily_token_budget``."""
        limit = self.config.get("daily_token_budget")
        return TokenBudget(int(limit) if limit else None)

    @cached_property
    def pacer(self) -> RequestPacer:
        """Burst-window pacing shared by every stream."""
        return RequestPacer()

    @cached_property
    def spool(self) -> SpoolReader:
        """The webhook spool the live mode reads (``webhook_spool``)."""
        from tap_pipedrive.spool_reader import SpoolReader  # noqa: PLC0415 - SQLAlchemy: live only

        return SpoolReader(str(self.config["webhook_spool"]))

    @cached_property
    def spool_through(self) -> int:
        """The spool's position when the run first read it: every stream reads up to it."""
        return self.spool.position()

    # -- streams ------------------------------------------------------------------------------

    def discover_streams(self) -> Sequence[Stream]:
        """Every stream; schemas (and field definitions) are fetched lazily, once per run."""
        self._field_streams = {cls.name: cls(self) for cls in FIELD_STREAMS}
        streams = [
            *self._field_streams.values(),
            *(cls(self) for cls in OTHER_STREAMS),
            ApiUsageStream(self),
        ]
        for stream in streams:
            stream.logger.addFilter(REPORTED_ELSEWHERE)
        return streams

    def run_discovery(self) -> str:
        """Print the catalog; with ``catalog_cache_dir``, the one built before from the same
        field definitions, settings and code, if there is one (:mod:`catalog_cache`)."""
        directory = self.config.get("catalog_cache_dir")
        if not directory:
            return super().run_discovery()
        cache = CatalogCache(str(directory), self.logger)
        key = catalog_key(self.config, self.secret_settings, self._schema_definitions())
        text = cache.read(key)
        if text is None:
            text = self.catalog_json_text
            cache.write(key, text)
        print(text)  # noqa: T201 - discovery's output, as the SDK prints it
        return text

    def _schema_definitions(self) -> dict[str, list[dict[str, Any]] | None]:
        """The field definitions the schemas are built from, by field stream (read from
        Pipedrive, or in the live mode from ``field_cache_path``); None if Pipedrive refused
        the list."""
        if not self.config.get("include_custom_fields", True):
            return {}
        entities = {
            getattr(stream, "custom_fields_entity", None) for stream in self.streams.values()
        }
        return {name: self._field_streams[name].definitions for name in sorted(entities - {None})}

    def load_streams(self) -> list[Stream]:
        """The SDK's streams (synced in name order); in the live mode the field streams sync
        last, so definitions an event made the run read again reach the target in that run;
        ``api_usage`` always syncs last, so its record counts every request of the run."""
        streams = super().load_streams()
        live = bool(self.config.get("webhook_spool"))
        streams.sort(
            key=lambda stream: (
                isinstance(stream, ApiUsageStream),
                live and isinstance(stream, FieldsStream),
            )
        )
        return streams

    def custom_field_set(self, field_stream_name: str) -> CustomFieldSet | None:
        """The custom fields described by one field stream (fetched on first use; None if
        Pipedrive refused the list)."""
        if not self._field_streams:
            _ = self.streams
        return self._field_streams[field_stream_name].field_set

    def refresh_fields(self, field_stream_name: str) -> bool:
        """Read one field list from Pipedrive again, at most once per run; False if Pipedrive
        refused it."""
        if field_stream_name not in self._refreshed_fields:
            stream = self._field_streams[field_stream_name]
            self._refreshed_fields[field_stream_name] = stream.refresh()
        return self._refreshed_fields[field_stream_name]

    # -- running ------------------------------------------------------------------------------

    def run_sync(self) -> None:
        """Sync every selected stream and always leave a resumable STATE behind.

        The daily token budget running out is not a failure: the run stops, writes the state
        the next run resumes from, says so in one line, and returns normally (exit code 0).

        Raises:
            PipedriveError: or an API error, after writing the state, for the CLI to report.
        """
        try:
            self.sync_all()
            self._report_applied()
        except BudgetExhausted as exc:
            self._sync_usage("budget_spent")
            self.write_final_state()
            self.logger.warning(
                "Stopped early: %s. The state was saved; the next run resumes from it.", exc
            )
        except (PipedriveError, FatalAPIError, RetriableAPIError):
            self._sync_usage("failed")
            self.write_final_state()
            raise
        except BrokenPipeError:
            # The target stopped reading (it failed and said why): say nothing after it.
            logging.disable()
            raise
        finally:
            metrics_log.log_token_usage(self.metrics_logger, self.logger, self.budget)
            select_patterns.warn_unmatched(self.logger, os.environ, self.input_catalog)

    def _sync_usage(self, outcome: str) -> None:
        """A run stopped before ``api_usage``'s turn: send its record now, if it is selected."""
        self.outcome = outcome
        usage = self.streams.get(ApiUsageStream.name)
        if isinstance(usage, ApiUsageStream) and usage.selected and not usage.sent:
            usage.sync()

    def _report_applied(self) -> None:
        """Live mode started by the receiver (``PIPEDRIVE_WEBHOOKS_RUN_ID``): tell it the
        position this run handed on (it counts once the run exits 0, i.e. the target too)."""
        run_id = os.environ.get(RUN_ID_VARIABLE)
        if (
            not self.config.get("webhook_spool")
            or not run_id
            or "spool_through" not in self.__dict__
        ):
            return
        self.spool.record_applied(int(run_id), self.spool_through)

    def write_final_state(self) -> None:
        """Finalize interrupted bookmarks and write the STATE message."""
        for name, stream_state in self.state.get("bookmarks", {}).items():
            stream = self.streams.get(name)
            if stream is None:
                continue
            for state in [stream_state, *stream_state.get("partitions", [])]:
                stream.state_manager.finalize_state(state)
        self.state_writer.write_state(self.state)

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: Any = None,
        catalog: Any = None,
    ) -> None:
        """The CLI entry point: as the SDK's, but stopping cleanly on a spent budget."""
        super(Tap, cls).invoke(about=about, about_format=about_format)
        cls.print_version(print_fn=cls.logger.info)
        tap = cls(
            config=config.config if config is not None else None,
            state=None
            if state is None
            else read_state(state.read(), f"the state file {state.name}"),
            catalog=None if catalog is None else json.loads(catalog.read()),
            parse_env_config=config.parse_env if config is not None else False,
            validate_config=True,
        )
        tap.run_sync()

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, reporting the tap's own errors in one line."""
        command = super().get_singer_command()
        command.__class__ = PipedriveCommand
        return command
