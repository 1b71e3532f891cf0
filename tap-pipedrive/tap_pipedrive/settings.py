"""The tap's settings: their JSON Schema (what ``--about`` documents) and the checks a schema
cannot express (one set of credentials, a parseable ``start_date``, an http(s) ``api_url``
that names no API path)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jsonschema import Draft7Validator
from singer_sdk import typing as th

from tap_pipedrive.auth import DEFAULT_TOKEN_URL
from tap_pipedrive.timestamps import parse_start_date
from tap_pipedrive.transport import redact_url

DEFAULT_API_URL = "https://api.pipedrive.com"
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token")
# API paths users paste with the domain (Pipedrive's docs show whole endpoint URLs). The tap adds
# /api/v1 or /api/v2 itself, so a pasted one is dropped instead of doubled (/api/v1/api/v2/...).
PASTED_API_PATHS = ("/api/v1", "/api/v2", "/v1")
# A path segment only an API endpoint URL has: what is left of such a path is no gateway prefix.
API_PATH_SEGMENT = re.compile(r"/(api|v1|v2)(/|$)")

CONFIG_JSONSCHEMA: dict[str, Any] = th.PropertiesList(
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
            "Base URL of the Pipedrive API: https://api.pipedrive.com, your company domain "
            "(https://acme.pipedrive.com) or a gateway in front of it (https://gw/pipedrive). "
            "Requests go to {api_url}/api/v2/... "
            "and {api_url}/api/v1/... (a pasted /api/v1, /api/v2 or /v1 is dropped; another "
            "API path, a query or a fragment is an error). With OAuth and no api_url set, the "
            "token response's api_domain is used."
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
        "connect_timeout",
        th.NumberType(minimum=0.1),
        default=10,
        title="Connect timeout (seconds)",
        description=(
            "Seconds to wait for a connection to api_url's host before retrying (a wrong "
            "api_url fails in seconds)."
        ),
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=30,
        title="Request timeout (seconds)",
        description=(
            "Seconds to wait for the answer to one HTTP request (once connected) before "
            "retrying it (Pipedrive answers a 500-record page in a few seconds). Three "
            "timeouts in a row end the run, whatever max_retries allows."
        ),
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
        "webhook_spool",
        th.StringType,
        secret=True,
        title="Webhook spool (live mode)",
        description=(
            "Live mode: apply the webhook events pipedrive-webhooks spooled (its spool_url: a "
            "SQLite file path or postgresql://user:pass@host/db) instead of reading the "
            "lists. Persons, organizations, deals, activities and notes emit the newest state "
            "of each object with events after the stream's spool position; other streams "
            "emit nothing. Empty: the normal sync from the API."
        ),
    ),
    th.Property(
        "field_cache_path",
        th.StringType,
        title="Field definitions cache (live mode)",
        description=(
            "With webhook_spool: a JSON file keeping the field definitions between runs, so "
            "a run reads a field list only when an event names a custom field the file does "
            "not know. Empty: every live run reads the field lists."
        ),
    ),
    th.Property(
        "catalog_cache_dir",
        th.StringType,
        title="Discovery cache directory",
        description=(
            "A directory where discovery keeps the catalogs it built, one file per key (the "
            "field definitions, the settings and the tap's code): a discovery that finds its "
            "key there prints that file instead of building the schemas again. Delete the "
            "directory to clear it. Empty: every discovery builds the catalog."
        ),
    ),
    th.Property(
        "user_agent",
        th.StringType,
        title="User agent",
        description="User-Agent header of every request.",
    ),
).to_dict()


def secret_names(schema: Mapping[str, Any]) -> frozenset[str]:
    """Names of the settings whose values must never be printed."""
    return frozenset(name for name, spec in schema["properties"].items() if spec.get("secret"))


def config_errors(
    config: Mapping[str, Any], schema: Mapping[str, Any], secrets: Iterable[str]
) -> list[str]:
    """Every problem of a configuration, one phrase each, never the value of a secret."""
    hidden = set(secrets)
    errors = [
        f"{'.'.join(str(p) for p in error.path) or 'config'}: {error.message}"
        if not error.path or str(error.path[0]) not in hidden
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
    try:
        split_api_url(str(config.get("api_url") or DEFAULT_API_URL))
    except ValueError as exc:
        errors.append(str(exc))
    return errors


def split_api_url(api_url: str) -> tuple[str, str]:
    """``api_url`` as the base of request URLs, and the pasted API path dropped from it ('').

    A path prefix is kept (a gateway or proxy in front of Pipedrive, ``https://gw/pipedrive``);
    a pasted ``/api/v1``, ``/api/v2`` or ``/v1`` at its end is dropped, as the tap adds them.

    Raises:
        ValueError: naming api_url, for a URL that is not http(s), a path that still names an
            API version or endpoint (``/api/v2/persons``), a query or a fragment. The message
            never repeats a query, a fragment or a ``user:password@`` (they may hold a secret).
    """
    parts = urlsplit(api_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        # masked before splitting: a password holding "#" or "?" would otherwise be cut in two
        shown = urlunsplit(urlsplit(redact_url(api_url.strip()))._replace(query="", fragment=""))
        msg = f"api_url {shown!r} must start with https://"
        raise ValueError(msg)
    if parts.query or parts.fragment:
        msg = (
            "api_url must not have a query or fragment (?... or #...): set the base URL "
            "alone, e.g. https://acme.pipedrive.com"
        )
        raise ValueError(msg)
    path = parts.path.rstrip("/")
    dropped = next((p for p in PASTED_API_PATHS if path.endswith(p)), "")
    prefix = path[: len(path) - len(dropped)]
    if API_PATH_SEGMENT.search(prefix):
        msg = (
            f"api_url must not name an API path (it has {parts.path!r}): set the base URL, "
            "e.g. https://acme.pipedrive.com; the tap adds /api/v2/... and /api/v1/... itself"
        )
        raise ValueError(msg)
    return f"{parts.scheme}://{parts.netloc}{prefix}", dropped
