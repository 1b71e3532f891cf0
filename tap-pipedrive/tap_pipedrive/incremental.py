"""Incremental entity streams: ``update_time`` bookmarks, lists sorted ascending so an
interrupted run resumes from its last record, and the periodic reconciliation pass that carries
deletes downstream (policy and state in :mod:`tap_pipedrive.reconciliation`). In the live mode
the records come from the webhook spool instead (:mod:`tap_pipedrive.live`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE

from tap_pipedrive import reconciliation
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.live import SpooledRecords
from tap_pipedrive.timestamps import format_utc, parse_start_date, to_api_param, to_rfc3339

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.tap import TapPipedrive


class IncrementalStream(SpooledRecords, PipedriveStream):
    """A list read by ``update_time`` ascending, resumable, with periodic reconciliation."""

    replication_key = "update_time"
    partition_contexts: ClassVar[list[dict[str, Any]] | None] = None
    """Sub-passes with their own sorted bookmark (deals: live and archived)."""

    def __init__(self, tap: TapPipedrive, schema: dict[str, Any] | None = None) -> None:
        """Create the stream; reconciliation is planned on the first sync of the run."""
        super().__init__(tap=tap, schema=schema)
        self._planned = False
        self._changes_since: str | None = None

    @property
    def is_sorted(self) -> bool:  # type: ignore[override]
        """Lists are read sorted by ``update_time``; spooled events arrive in any order."""
        return not self.live

    @property
    def partitions(self) -> list[dict] | None:
        """The sub-passes. The SDK asks for them once before syncing: this is where the run
        decides whether it is a reconciliation pass (it must precede the bookmarks' use).
        The live mode has one position per stream and no pass."""
        if self.live:
            return None
        self._plan_once()
        return [dict(p) for p in self.partition_contexts] if self.partition_contexts else None

    def _partition_states(self) -> list[dict[str, Any]]:
        if not self.partition_contexts:
            return [self.stream_state]
        return [self.get_context_state(dict(p)) for p in self.partition_contexts]

    def _plan_once(self) -> None:
        if self._planned or self.replication_method == REPLICATION_FULL_TABLE:
            return
        self._planned = True
        plan = reconciliation.plan_run(
            self.stream_state,
            self._partition_states(),
            self.now,
            float(self.config.get("reconciliation_interval_days", 7)),
            complete=self.incomplete_output is None,
        )
        if self.incomplete_output is not None:
            self.logger.info(
                "No reconciliation pass for '%s' (records it leaves out are not synced, never "
                "marked deleted): %s",
                self.name,
                self.incomplete_output,
            )
        elif plan.begun is not None:
            self.logger.info(
                "Reconciliation pass %s: reading '%s' in full to detect deleted records",
                plan.begun,
                self.name,
            )
        self._stream_version = plan.version
        self._changes_since = plan.changes_since

    @property
    def changes_since(self) -> str | None:
        """Objects updated at or after this time (RFC 3339) changed since the last run; None:
        every object (first run without ``start_date``)."""
        start = self.config.get("start_date")
        values = [to_rfc3339(self._changes_since)] if self._changes_since else []
        if start:
            values.append(format_utc(parse_start_date(str(start))))
        return max((v for v in values if v), default=None)

    def starting_params(self, context: Context | None) -> dict[str, Any]:
        """``updated_since`` from the bookmark (or ``start_date``), in Pipedrive's format."""
        start = self.get_starting_timestamp(context)
        return {"updated_since": to_api_param(start)} if start else {}

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The sorted list from the bookmark; closes a reconciliation pass when it completes.
        In the live mode: the spooled events instead."""
        if self.live:
            yield from self.live_records()
            return
        self._plan_once()
        yield from super().get_records(context)
        in_pass = self.stream_state.get(reconciliation.IN_PROGRESS)
        if in_pass is None or self.replication_method == REPLICATION_FULL_TABLE:
            return
        version = int(in_pass["version"])
        reconciliation.finish_partition(self.get_context_state(context), version)
        partitions = self._partition_states()
        if reconciliation.pass_complete(partitions, version):
            reconciliation.complete_pass(self.stream_state, partitions)
            self._write_activate_version_message(version)
            self.logger.info("Reconciliation pass %s of '%s' complete", version, self.name)


class V2IncrementalStream(IncrementalStream):
    """An API v2 list filtered by ``updated_since`` and sorted by ``update_time`` ascending."""

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """Sort by update_time ascending from the bookmark."""
        params = super().get_url_params(context, next_page_token)
        params.update(sort_by="update_time", sort_direction="asc")
        params.update(self.starting_params(context))
        return params
