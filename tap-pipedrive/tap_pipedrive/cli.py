"""The command line: configuration, credential and API errors as one line and exit code 1; a
closed stdout (the target stopped reading) ends the tap without a word.

target-pipedrive speaks to the same API through the same errors, so its command is this one too.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click
from singer_sdk.exceptions import (
    ConfigValidationError,
    FatalAPIError,
    MapExpressionError,
    RetriableAPIError,
    StreamMapConfigError,
)
from singer_sdk.plugin_base import SingerCommand

from tap_pipedrive.errors import BudgetExhausted, PipedriveError

STREAM_MAP_ERRORS = (MapExpressionError, StreamMapConfigError)
REPORTED_ERRORS = (PipedriveError, FatalAPIError, RetriableAPIError, *STREAM_MAP_ERRORS)
"""What the command reports as one line (anything else is a bug: its traceback is shown)."""


class PipedriveCommand(SingerCommand):
    """Reports configuration, credential and API errors as one line, named after the plugin
    (the command's name), and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; one line per failure instead of a traceback."""
        try:
            return click.Command.invoke(self, ctx)
        except ConfigValidationError as exc:
            self._fail(str(exc.errors[0] if exc.errors else exc))
        except REPORTED_ERRORS as exc:
            self._fail(_describe(exc))
        except BrokenPipeError:
            _end_quietly()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Also catch errors of option callbacks (``--discover`` runs in one)."""
        try:
            return super().main(*args, **kwargs)
        except REPORTED_ERRORS as exc:
            self._fail(_describe(exc))
        except BrokenPipeError:
            _end_quietly()

    def _fail(self, message: str) -> None:
        self.logger.error("%s: %s", self.name, message)
        sys.exit(1)


def _end_quietly() -> None:
    """The reader of stdout (the target) is gone: it has said why, and its reason must stay the
    last thing the user reads. Exit 1 (the sync did not finish) without a word, and point
    stdout at /dev/null so Python's final flush does not complain about the pipe either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RetriableAPIError):
        return f"Pipedrive kept failing after every retry: {exc}"
    if isinstance(exc, BudgetExhausted):
        return f"cannot run: {exc}"
    if isinstance(exc, STREAM_MAP_ERRORS):
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        return f"stream_maps: {exc}{cause}; fix it in the tap's stream_maps setting"
    return str(exc)


class _ReportedElsewhere(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing" line for errors the tap
    reports itself in one line (a spent budget is not even an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        active = sys.exc_info()[1]
        return not (
            isinstance(active, (*REPORTED_ERRORS, BrokenPipeError))
            and record.msg.startswith("An unhandled error")
        )


REPORTED_ELSEWHERE = _ReportedElsewhere()
"""A logging filter for stream loggers: no traceback line for errors the CLI reports itself."""
