"""Table versions of FULL_TABLE streams: records carry the run's version, and ACTIVATE_VERSION
follows only a list read whole, and only when the run sends every record Pipedrive holds (the
policy is in :mod:`tap_pipedrive.reconciliation`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE

from tap_pipedrive import reconciliation

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.session import RunSession


class VersionedRecords(Stream):
    """The table versions of a Pipedrive stream (mixed into
    :class:`~tap_pipedrive.client.PipedriveStream`)."""

    session: RunSession

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
        return dt.datetime.fromtimestamp(self.session.initialized_at / 1000, tz=dt.UTC)

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
