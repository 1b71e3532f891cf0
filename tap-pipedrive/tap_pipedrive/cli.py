"""The command line: configuration, credential and API errors as one line and exit code 1."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from singer_sdk.plugin_base import SingerCommand

from tap_pipedrive.errors import BudgetExhausted, PipedriveError


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


class _ReportedElsewhere(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing" line for errors the tap
    reports itself in one line (a spent budget is not even an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        active = sys.exc_info()[1]
        return not (
            isinstance(active, PipedriveError) and record.msg.startswith("An unhandled error")
        )


REPORTED_ELSEWHERE = _ReportedElsewhere()
"""A logging filter for stream loggers: no traceback line for errors the CLI reports itself."""
