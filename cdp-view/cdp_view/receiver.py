"""The webhook receiver (pipedrive-webhooks): its status on the details panel, and Disconnect's
unregister of its webhooks.

Both run the receiver's own commands, ``pipedrive-webhooks status`` and ``pipedrive-webhooks
unregister``, with the settings Meltano resolves for the utility passed as its
``PIPEDRIVE_WEBHOOKS_<SETTING>`` variables (what ``meltano invoke`` does, without needing the
utility's own Meltano virtualenv): the status text, the subscriptions it lists and what
unregister deletes are the receiver's logic, never a copy. A receiver is configured when the
utility has a ``public_url`` (where Pipedrive delivers): without one it registered nothing.

``status`` asks Pipedrive for the subscriptions (a second or more), so the panel shows the last
answer and asks again in the background once it is older than a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipedrive_webhooks.settings import ENV_PREFIX, env_name

PLUGIN = "pipedrive-webhooks"
MAX_AGE_SECONDS = 60.0
COMMAND_TIMEOUT = 120
#: The utility's settings whose values never reach a page (masked in any output).
SECRETS = ("auth_password", "api_token", "client_secret", "refresh_token")


class ReceiverCommandError(RuntimeError):
    """A receiver command failed; the message is its own one-line error."""


def configured(config: Mapping[str, Any]) -> bool:
    """Whether the utility's settings name a receiver Pipedrive delivers to."""
    return bool(config.get("public_url"))


def executable() -> str:
    """The receiver's command: on PATH, else next to this Python (cdp-view depends on it)."""
    return shutil.which(PLUGIN) or str(Path(sys.executable).with_name(PLUGIN))


def run(config: Mapping[str, Any], *args: str) -> str:
    """Run ``pipedrive-webhooks <args>`` with ``config``; its output, secret values masked.

    Raises:
        ReceiverCommandError: with the receiver's own error line.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name, value in config.items():
        if value is not None and value != "":
            # Lists (objects) and other values as JSON text, as Meltano passes them.
            env[env_name(name)] = value if isinstance(value, str) else json.dumps(value)
    try:
        result = subprocess.run(  # noqa: S603 - arguments are a list, never a shell string
            [executable(), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        msg = f"{PLUGIN} {args[0]} could not run: {type(exc).__name__}"
        raise ReceiverCommandError(msg) from None
    secrets = [str(config[name]) for name in SECRETS if config.get(name)]
    output = _masked(result.stdout, secrets)
    if result.returncode != 0:
        lines = _masked(result.stderr, secrets).strip().splitlines()
        last = lines[-1] if lines else f"exit code {result.returncode}"
        raise ReceiverCommandError(last.removeprefix(f"{PLUGIN}: "))
    return output


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass
class Checked:
    """One answer of ``status``: its text (or its error line) and when it came."""

    text: str
    ok: bool
    at: float


class ReceiverStatus:
    """The receiver's last status, refreshed in the background when older than ``max_age``."""

    def __init__(
        self,
        check: Callable[[], str],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = MAX_AGE_SECONDS,
    ) -> None:
        """``check`` returns the status text or raises ``ReceiverCommandError``."""
        self._check = check
        self._clock = clock
        self._max_age = max_age
        self._last: Checked | None = None
        self._refreshing = False
        #: Moves on at each ``forget``: a check begun before it is not kept.
        self._generation = 0
        self._lock = threading.Lock()

    def current(self) -> Checked | None:
        """The last answer (None before the first); starts a new check if it is stale."""
        with self._lock:
            last = self._last
            stale = last is None or self._clock() - last.at >= self._max_age
            if stale and not self._refreshing:
                self._refreshing = True
                threading.Thread(
                    target=self._refresh, args=(self._generation,), daemon=True
                ).start()
        return last

    def forget(self) -> None:
        """The receiver changed (webhooks unregistered): check again on the next look."""
        with self._lock:
            self._last = None
            self._generation += 1
            self._refreshing = False

    def _refresh(self, generation: int) -> None:
        try:
            checked = Checked(self._check(), ok=True, at=self._clock())
        except ReceiverCommandError as exc:
            checked = Checked(str(exc), ok=False, at=self._clock())
        with self._lock:
            if generation == self._generation:
                self._last = checked
                self._refreshing = False
