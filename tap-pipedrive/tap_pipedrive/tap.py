"""tap-pipedrive: settings, streams, and how a run starts and stops."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import click
from jsonschema import Draft7Validator
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.plugin_base import SingerCommand

from tap_pipedrive import metrics_log
from tap_pipedrive.auth import (
    DEFAULT_TOKEN_URL,
    PipedriveOAuthAuthenticator,
    api_token_authenticator,
)
from tap_pipedrive.budget import TokenBudget
from tap_pipedrive.custom_fields import CustomFieldSet
from tap_pipedrive.errors import BudgetExhausted, ConfigError, PipedriveError
from tap_pipedrive.output import BufferedMsgSpecWriter
from tap_pipedrive.rate_limit import RequestPacer
from tap_pipedrive.streams import FIELD_STREAMS, OTHER_STREAMS, STREAM_NAMES, FieldsStream
from tap_pipedrive.timestamps import parse_start_date

DEFAULT_API_URL = "https://api.pipedrive.com"
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token")


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

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_token",
            th.StringType,
            secret=True,
            title="API token",
            description=(
                "Personal API token (Pipedrive: Settings > Personal preferences > API), sent in "
                "the x-api-token header. Set this, or the three OAuth settings."
            ),
        ),
        th.Property(
            "client_id",
            th.StringType,
            title="OAuth client ID",
            description=(
                "Client ID of your Pipedrive OAuth app (with client_secret and refresh_token)."
            ),
        ),
        th.Property(
            "client_secret",
            th.StringType,
            secret=True,
            title="OAuth client secret",
            description="Client secret of your Pipedrive OAuth app.",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            title="OAuth refresh token",
            description=(
                "Refresh token of the app's installation; access tokens are refreshed from it "
                "when they expire."
            ),
        ),
        th.Property(
            "oauth_token_url",
            th.StringType,
            default=DEFAULT_TOKEN_URL,
            title="OAuth token endpoint",
            description="Where refresh tokens are exchanged for access tokens.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            title="API URL",
            description=(
                "Base URL of the Pipedrive API, without a path: https://api.pipedrive.com or your "
                "company domain (https://acme.pipedrive.com). Requests go to {api_url}/api/v2/... "
                "and {api_url}/api/v1/.... With OAuth, the api_domain of the token response wins."
            ),
        ),
        th.Property(
            "start_date",
            th.StringType,
            title="Start date",
            description=(
                "Only records updated at or after this date (YYYY-MM-DD or RFC 3339 date-time, "
                "UTC if no zone). Empty: the whole account."
            ),
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=500),
            default=500,
            title="Page size",
            description=(
                "Records per request (Pipedrive allows 500; a call costs the same at any size)."
            ),
        ),
        th.Property(
            "include_custom_fields",
            th.BooleanType,
            default=True,
            title="Include custom fields",
            description=(
                "Add each record's custom fields, by readable name, in a custom_fields object."
            ),
        ),
        th.Property(
            "daily_token_budget",
            th.IntegerType(minimum=1),
            title="Token budget per run",
            description=(
                "Stop cleanly (with a resumable state) before this run spends more than this "
                "many Pipedrive API tokens. Empty: no cap besides Pipedrive's own daily budget."
            ),
        ),
        th.Property(
            "reconciliation_interval_days",
            th.NumberType(minimum=0),
            default=7,
            title="Reconciliation interval (days)",
            description=(
                "How often incremental streams re-read everything to detect deleted records "
                "(a versioned full pass closed by ACTIVATE_VERSION). 0: every run."
            ),
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=120,
            title="Request timeout (seconds)",
            description="Seconds to wait for one HTTP response before retrying it.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=1),
            default=6,
            title="Attempts per request",
            description="Attempts on 5xx, timeouts, dropped connections and unreadable bodies.",
        ),
        th.Property(
            "retry_base_delay",
            th.NumberType(minimum=0),
            default=1.0,
            title="Retry base delay (seconds)",
            description=(
                "First backoff wait after a transient failure; doubles per attempt, up to 60 s."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User agent",
            description="User-Agent header of every request.",
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the tap; refuse a catalog that selects a stream the tap does not have."""
        super().__init__(*args, **kwargs)
        self._field_streams: dict[str, FieldsStream] = {}
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
        config = self.config
        errors = [
            f"{'.'.join(str(p) for p in error.path) or 'config'}: {error.message}"
            if not error.path or str(error.path[0]) not in self.secret_settings
            else f"{error.path[0]}: invalid value"
            for error in Draft7Validator(schema).iter_errors(dict(config))
        ]
        oauth = [name for name in OAUTH_SETTINGS if config.get(name)]
        if config.get("api_token") and oauth:
            errors.append("set either api_token or the OAuth settings, not both")
        elif not config.get("api_token") and len(oauth) < len(OAUTH_SETTINGS):
            missing = [name for name in OAUTH_SETTINGS if not config.get(name)]
            errors.append(
                "missing credentials: set api_token"
                + (
                    f", or also {', '.join(missing)} for OAuth"
                    if oauth
                    else ", or client_id, client_secret and refresh_token for OAuth"
                )
            )
        if config.get("start_date"):
            try:
                parse_start_date(str(config["start_date"]))
            except ValueError as exc:
                errors.append(str(exc))
        api_url = str(config.get("api_url") or DEFAULT_API_URL)
        if not api_url.startswith(("https://", "http://")):
            errors.append(f"api_url {api_url!r} must start with https://")
        if errors and raise_errors:
            summary = "invalid configuration: " + "; ".join(errors)
            raise ConfigValidationError(summary, errors=[summary], schema=schema)
        return errors

    @cached_property
    def secret_settings(self) -> frozenset[str]:
        """Names of the settings whose values must never be printed."""
        properties = self.config_jsonschema["properties"]
        return frozenset(name for name, spec in properties.items() if spec.get("secret"))

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
            timeout=float(self.config.get("request_timeout", 120)),
        )

    @property
    def api_base_url(self) -> str:
        """Where API calls go: the OAuth ``api_domain`` if there is one, else ``api_url``."""
        auth = self.authenticator
        if isinstance(auth, PipedriveOAuthAuthenticator):
            auth.ensure_token()
            if auth.api_domain:
                return auth.api_domain
        return str(self.config.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @cached_property
    def budget(self) -> TokenBudget:
        """Tokens spent by this run, capped by ``daily_token_budget``."""
        limit = self.config.get("daily_token_budget")
        return TokenBudget(int(limit) if limit else None)

    @cached_property
    def pacer(self) -> RequestPacer:
        """Burst-window pacing shared by every stream."""
        return RequestPacer()

    # -- streams ------------------------------------------------------------------------------

    def discover_streams(self) -> Sequence[Stream]:
        """Every stream; schemas (and field definitions) are fetched lazily, once per run."""
        self._field_streams = {cls.name: cls(self) for cls in FIELD_STREAMS}
        streams = [*self._field_streams.values(), *(cls(self) for cls in OTHER_STREAMS)]
        for stream in streams:
            stream.logger.addFilter(_REPORTED_ELSEWHERE)
        return streams

    def custom_field_set(self, field_stream_name: str) -> CustomFieldSet:
        """The custom fields described by one field stream (fetched on first use)."""
        if not self._field_streams:
            _ = self.streams
        return self._field_streams[field_stream_name].field_set

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
        except BudgetExhausted as exc:
            self.write_final_state()
            self.logger.warning(
                "Stopped early: %s. The state was saved; the next run resumes from it.", exc
            )
        except (PipedriveError, FatalAPIError, RetriableAPIError):
            self.write_final_state()
            raise
        finally:
            metrics_log.log_token_usage(self.metrics_logger, self.logger, self.budget)

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
            state=None if state is None else json.loads(state.read()),
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


class _ReportedElsewhere(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing" line for errors the tap
    reports itself in one line (a spent budget is not even an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        active = sys.exc_info()[1]
        return not (
            isinstance(active, PipedriveError) and record.msg.startswith("An unhandled error")
        )


_REPORTED_ELSEWHERE = _ReportedElsewhere()


class PipedriveCommand(SingerCommand):
    """Reports configuration, credential and API errors as one line and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; one line per failure instead of a traceback."""
        try:
            return click.Command.invoke(self, ctx)
        except ConfigValidationError as exc:
            self._fail(str(exc.errors[0] if exc.errors else exc))
        except (PipedriveError, FatalAPIError, RetriableAPIError) as exc:
            self._fail(_describe(exc))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Also catch errors of option callbacks (``--discover`` runs in one)."""
        try:
            return super().main(*args, **kwargs)
        except (PipedriveError, FatalAPIError, RetriableAPIError) as exc:
            self._fail(_describe(exc))

    def _fail(self, message: str) -> None:
        self.logger.error("tap-pipedrive: %s", message)
        sys.exit(1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RetriableAPIError):
        return f"Pipedrive kept failing after every retry: {exc}"
    if isinstance(exc, BudgetExhausted):
        return f"cannot run: {exc}"
    return str(exc)
