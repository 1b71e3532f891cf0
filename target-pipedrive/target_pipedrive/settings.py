"""The target's settings (JSON Schema for singer-sdk and Meltano) and their startup checks.

Credentials are tap-pipedrive's (``api_token``, or the OAuth ``client_id``/``client_secret``/
``refresh_token``); ``database_url``/``schema`` are target-cdp's, checked by target-cdp's own
``database_url_problem``. Every problem is one line naming the setting and what to change.
"""

from __future__ import annotations

from typing import Any

from singer_sdk.exceptions import ConfigValidationError
from target_cdp.settings import database_url_problem

from target_pipedrive.actions import Action, ActionConfigError, parse_actions


def _prop(json_type: Any, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": json_type, "description": description, **extra}


CONFIG_JSONSCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_token": _prop(
            ["string", "null"], "Pipedrive API token (or use OAuth)", secret=True, writeOnly=True
        ),
        "client_id": _prop(["string", "null"], "OAuth client id"),
        "client_secret": _prop(
            ["string", "null"], "OAuth client secret", secret=True, writeOnly=True
        ),
        "refresh_token": _prop(
            ["string", "null"], "OAuth refresh token", secret=True, writeOnly=True
        ),
        "oauth_token_url": _prop(["string", "null"], "OAuth token endpoint"),
        "api_url": _prop(
            ["string", "null"], "Pipedrive API base URL (default https://api.pipedrive.com)"
        ),
        "database_url": _prop(
            "string",
            "The CDP database (target-cdp's database_url): holds the ledger",
            secret=True,
            writeOnly=True,
        ),
        "schema": _prop("string", "Schema of the CDP tables and the ledger", default="cdp"),
        "actions": _prop("array", "The actions to perform (see the README)", items={}),
        "enabled": _prop(
            "boolean",
            "Perform the actions; false pauses the write-back (nothing sent, no STATE emitted: "
            "the changes wait until it is on again)",
            default=True,
        ),
        "dry_run": _prop(
            "boolean", "Print the calls the actions would make; send none", default=False
        ),
        "daily_token_budget": _prop(
            ["integer", "null"], "Stop cleanly after this many Pipedrive tokens in a run"
        ),
        "max_retries": _prop("integer", "Attempts per call on 5xx/timeouts", default=6),
        "retry_base_delay": _prop("number", "First retry wait in seconds", default=1.0),
        "request_timeout": _prop("number", "Seconds to wait for an answer", default=30),
        "connect_timeout": _prop("number", "Seconds to wait for a connection", default=10),
    },
    "required": ["database_url", "actions"],
}


def error(setting: str, problem: str) -> ConfigValidationError:
    """A one-line config error."""
    message = f"Invalid setting `{setting}`: {problem}"
    return ConfigValidationError(message, errors=[message])


def check(config: dict[str, Any]) -> list[Action]:
    """The parsed actions; ``ConfigValidationError`` (one line) on the first problem."""
    if problem := database_url_problem(str(config.get("database_url") or "")):
        raise error("database_url", problem)
    oauth = [config.get(k) for k in ("client_id", "client_secret", "refresh_token")]
    if not config.get("dry_run") and not config.get("api_token") and not all(oauth):
        raise error("api_token", "give api_token, or client_id, client_secret and refresh_token")
    try:
        return parse_actions(config.get("actions"))
    except ActionConfigError as exc:
        raise error("actions", str(exc)) from None
