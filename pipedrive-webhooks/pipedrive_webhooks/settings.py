"""The service's settings: names, defaults, and the checks that turn bad values into one line.

Every setting is a CLI flag and an environment variable ``PIPEDRIVE_WEBHOOKS_<NAME>``, which is
how Meltano hands a utility its settings. Secret settings (``auth_password``, ``api_token``,
``client_secret``, ``refresh_token``, and ``spool_url``, which may carry a database password)
are never echoed: a problem names the setting, not the value.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from urllib.parse import urlsplit

from pipedrive_webhooks.subscriptions import DEFAULT_OBJECTS, WEBHOOK_OBJECTS

ENV_PREFIX = "PIPEDRIVE_WEBHOOKS_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8780
DEFAULT_SPOOL_URL = "webhook-spool.sqlite"
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_APPLY_COMMAND = "meltano run tap-pipedrive-live target-cdp"
DEFAULT_QUIET_SECONDS = 5.0
DEFAULT_MAX_WAIT_SECONDS = 60.0
DEFAULT_SAFETY_NET = "the scheduled job sync-cdp (schedule sync-cdp-every-15-minutes)"
DEFAULT_SAFETY_NET_STATE_ID = "tap-pipedrive-to-target-cdp"
MIN_PASSWORD_LENGTH = 12


class SettingsError(ValueError):
    """A missing or invalid setting; the message names it and what to set."""


def env_name(setting: str) -> str:
    """The environment variable of a setting."""
    return ENV_PREFIX + setting.upper()


def _where(setting: str) -> str:
    return f"{setting} (--{setting.replace('_', '-')} or {env_name(setting)})"


def require(setting: str, value: str | None) -> str:
    """A setting that must be set."""
    if value is None or not str(value).strip():
        msg = f"{_where(setting)} is not set"
        raise SettingsError(msg)
    return str(value)


def basic_credentials(user: str | None, password: str | None) -> tuple[str, str]:
    """The Basic auth user and password deliveries must carry."""
    user = require("auth_user", user)
    password = require("auth_password", password)
    if ":" in user:
        msg = "auth_user must not contain ':' (HTTP Basic auth cannot carry it): choose another"
        raise SettingsError(msg)
    if len(password) < MIN_PASSWORD_LENGTH:
        msg = (
            f"auth_password is shorter than {MIN_PASSWORD_LENGTH} characters: the receiver is "
            "reachable by anyone who finds its URL, use a long random password"
        )
        raise SettingsError(msg)
    return user, password


def parse_objects(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``objects`` from a comma-separated list or a JSON array (Meltano's array settings)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_OBJECTS
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                msg = f"objects {text!r} is not a JSON array nor a comma-separated list"
                raise SettingsError(msg) from None
        else:
            items = text.split(",")
    else:
        items = list(value)
    names = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    unknown = [name for name in names if name not in WEBHOOK_OBJECTS]
    if unknown or not names:
        msg = (
            f"objects: unknown webhook object(s) {', '.join(unknown) or '(none given)'}; "
            f"Pipedrive has {', '.join(WEBHOOK_OBJECTS)}"
        )
        raise SettingsError(msg)
    return names


def public_url(value: str | None) -> str:
    """The URL Pipedrive delivers to: http(s), a host, no credentials, query or fragment."""
    text = require("public_url", value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        msg = f"public_url {text!r} must be a full URL such as https://cdp.example.com/pipedrive"
        raise SettingsError(msg)
    if parts.username or parts.password:
        msg = (
            "public_url must not contain credentials (user:password@): set auth_user and "
            "auth_password instead"
        )
        raise SettingsError(msg)
    if parts.fragment:
        msg = "public_url must not have a fragment (#...)"
        raise SettingsError(msg)
    return text


def apply_command(value: str | None) -> tuple[str, ...]:
    """The applying job's command line; empty means spool only, start nothing."""
    if value is None:
        value = DEFAULT_APPLY_COMMAND
    try:
        return tuple(shlex.split(value))
    except ValueError as exc:
        msg = f"apply_command cannot be split into arguments ({exc}): check its quotes"
        raise SettingsError(msg) from None


def debounce_seconds(quiet: float, max_wait: float) -> tuple[float, float]:
    """``apply_quiet_seconds`` and ``apply_max_wait_seconds``, consistent."""
    if quiet < 0 or max_wait < 0:
        msg = "apply_quiet_seconds and apply_max_wait_seconds must not be negative"
        raise SettingsError(msg)
    if max_wait < quiet:
        msg = (
            f"apply_max_wait_seconds ({max_wait:g}) is shorter than apply_quiet_seconds "
            f"({quiet:g}): the maximum wait must be at least the quiet period"
        )
        raise SettingsError(msg)
    return quiet, max_wait
