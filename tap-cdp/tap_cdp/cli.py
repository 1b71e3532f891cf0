"""The command line: a CDP that cannot be read is one line and exit code 1, not a traceback.

The SDK's command shows a traceback for every error. tap-pipedrive's command does this job for
the Pipedrive API; tap-cdp does not depend on tap-pipedrive, so this is its own small command
for its own error (``CDPReadError``), reported the same way: named after the plugin.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from singer_sdk.plugin_base import SingerCommand

from tap_cdp.database import CDPReadError


class CDPCommand(SingerCommand):
    """Reports ``CDPReadError`` as one line, named after the plugin, and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; one line instead of a traceback."""
        try:
            return click.Command.invoke(self, ctx)
        except CDPReadError as exc:
            self._fail(exc)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Also catch errors of option callbacks (``--discover`` runs in one)."""
        try:
            return super().main(*args, **kwargs)
        except CDPReadError as exc:
            self._fail(exc)

    def _fail(self, exc: CDPReadError) -> None:
        self.logger.error("%s: %s", self.name, exc)
        sys.exit(1)


class _ReportedElsewhere(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing" line for ``CDPReadError``:
    the command reports it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            isinstance(sys.exc_info()[1], CDPReadError)
            and str(record.msg).startswith("An unhandled error")
        )


REPORTED_ELSEWHERE = _ReportedElsewhere()
"""A logging filter for stream loggers: no second line for errors the command reports."""
