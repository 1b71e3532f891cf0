"""target-cdp: a Singer target merging Pipedrive streams into a CDP schema.

SIGTERM, SIGINT and SIGHUP (a closed terminal) stop the target where it is. The SDK's own
handler drains every sink, emits the latest STATE and exits 0; a signal during a batch write
rolled that batch back while its STATE went out, and the next run skipped its records for good.
Here the signal raises ``Interrupted`` at once: the open transaction rolls back, no STATE is
emitted (the SDK emits STATE only after a full drain, so every STATE already out covers
committed work), the run is recorded ``aborted`` and the process exits 128 + the signal number
with one line saying so. Once the run is recorded ``succeeded`` (its last STATE is out and all
its work committed) a signal changes nothing: the target says so and exits 0, as the run did.
"""

from __future__ import annotations

import fnmatch
import io
import signal
import sys
import threading
import typing as t

from singer_sdk import Target
from singer_sdk.helpers.capabilities import (
    ACTIVATE_VERSION_CONFIG,
    TARGET_BATCH_SIZE_ROWS_CONFIG,
    TARGET_VALIDATE_RECORDS_CONFIG,
    PluginCapabilities,
    TargetCapabilities,
)
from singer_sdk.mapper import MAPPER_FILTER_OPTION, MAPPER_SOURCE_OPTION
from singer_sdk.plugin_base import PluginBase

from target_cdp.database import CDPDatabaseError, mask_secrets
from target_cdp.registry import RANK
from target_cdp.run import Run
from target_cdp.sdk_private import pending_sinks
from target_cdp.settings import CONFIG_JSONSCHEMA, Settings
from target_cdp.sinks import SINKS, UnknownStreamSink

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.mapper import StreamMap
    from singer_sdk.sinks import Sink

#: The signals that stop the target (SIGHUP: the terminal running it was closed).
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Interrupted(KeyboardInterrupt):
    """A SIGTERM, SIGINT or SIGHUP stopped the target.

    A ``KeyboardInterrupt``: library code that catches ``Exception`` lets it through, and
    psycopg cancels the statement the server is running on it.
    """


class TargetCDP(Target):
    """Merges Pipedrive persons, organizations, deals, notes and activities into a CDP."""

    name = "target-cdp"
    config_jsonschema: t.ClassVar[dict] = CONFIG_JSONSCHEMA
    # No FLATTENING (nested custom fields are part of the model) and no record metadata
    # (the CDP's columns are its contract); ACTIVATE_VERSION retires deleted records.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.ACTIVATE_VERSION,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.settings = Settings.from_config(dict(self.config))
        # One writer: sinks drain one after another, in dependency order, on one engine.
        self.max_parallelism = 1
        self._run: Run | None = None
        #: ACTIVATE_VERSION bookkeeping: versions retired, and versions deferred to the end.
        self._activated: dict[str, int] = {}
        self._deferred: dict[str, int] = {}
        #: The signal that stopped the run, once one came.
        self._stop_signal: int | None = None

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Add only the SDK settings that mean something for this target."""
        for builtin in (
            TARGET_BATCH_SIZE_ROWS_CONFIG,
            TARGET_VALIDATE_RECORDS_CONFIG,
            ACTIVATE_VERSION_CONFIG,
        ):
            for key, value in builtin["properties"].items():
                config_jsonschema["properties"].setdefault(key, value)
        PluginBase.append_builtin_config.__func__(cls, config_jsonschema)  # type: ignore[attr-defined]

    def cdp_run(self) -> Run:
        """The current run (started, and the schema migrated, by the first stream or the end).

        Held before its ``running`` row is committed: a signal right after finds it.
        """
        if self._run is None:
            self._run = Run(self.settings)
            self._run.start()
        return self._run

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """The sink of a known stream; unknown streams are rejected, not fatal."""
        return SINKS.get(stream_name, UnknownStreamSink)

    def drain_one(self, sink: Sink) -> None:
        """Write the pending batches of the streams drained before ``sink``'s, then its batch.

        Every batch the SDK writes goes through here, so the records a batch refers to (its
        people, organizations, deals, catalogs: ``registry.STREAMS`` order) are written first.
        """
        if sink.current_size:
            rank = _rank(sink)
            for other in sorted(pending_sinks(self), key=_rank):
                if other is not sink and _rank(other) < rank:
                    super().drain_one(other)
        super().drain_one(sink)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        """Retire what the version did not see: now if its records came, else at the end.

        An ACTIVATE_VERSION after its records (what tap-pipedrive sends) retires at once, once
        the buffered records of the version are written. One sent before its records (the
        Singer spec allows it; singer-sdk full-table streams do it) would retire every stored
        object, and the records re-sent next would undelete them but leave spurious deleted
        activities and counts: its retirement waits for the end of the run.
        """
        version = message_dict["version"]
        for stream_map in self.mapper.stream_maps.get(message_dict["stream"], []):
            name = stream_map.stream_alias
            sink = self.get_sink(name)
            if not sink.process_activate_version_messages:
                self.logger.warning(
                    "ACTIVATE_VERSION messages are disabled: ignored for '%s'", name
                )
            elif reason := self._selective(message_dict["stream"], stream_map):
                self.logger.warning(
                    "ACTIVATE_VERSION %s of '%s' retires nothing: target-cdp's stream_maps %s, "
                    "so records it left out were not synced, not deleted in Pipedrive",
                    version,
                    name,
                    reason,
                )
            elif version in self.cdp_run().versions_received[name]:
                self.drain_one(sink)
                sink.activate_version(version)
                self._activated[name] = max(version, self._activated.get(name, version))
            else:
                self.logger.info(
                    "ACTIVATE_VERSION %s of '%s' came before its records: retiring at the end",
                    version,
                    name,
                )
                self._deferred[name] = max(version, self._deferred.get(name, version))

    def _selective(self, stream_name: str, stream_map: StreamMap) -> str | None:
        """Why this target's own stream maps make a pass over the stream partial (or None).

        A ``__filter__`` leaves records out, and other ``__key_properties__`` make the records
        different objects: either way, what the pass did not see may still be in Pipedrive.
        A filter on any map of the stream counts (a projection of it under an alias too):
        keeping an object that is gone costs less than deleting one that is not.
        """
        if stream_map.transformed_key_properties != stream_map.raw_key_properties:
            return "change its key properties"
        for pattern, definition in self.mapper.stream_maps_dict.items():
            if not isinstance(definition, dict) or MAPPER_FILTER_OPTION not in definition:
                continue
            if fnmatch.fnmatchcase(stream_name, definition.get(MAPPER_SOURCE_OPTION, pattern)):
                return "filter it (__filter__)"
        return None

    def _retire_deferred(self) -> None:
        """Write every pending batch, then apply the latest deferred version of each stream.

        A deferred version that one activated since already covers is dropped: applying it
        would retire records sent after that pass without a version.
        """
        for sink in pending_sinks(self):
            self.drain_one(sink)
        for name, version in sorted(self._deferred.items()):
            if version > self._activated.get(name, version - 1):
                self.get_sink(name).activate_version(version)
        self._deferred.clear()

    @classmethod
    def invoke(cls, **kwargs: t.Any) -> None:
        """Run the command line; a database error ends it with its one line (``listen``)."""
        try:
            super().invoke(**kwargs)
        except CDPDatabaseError:
            sys.exit(1)

    def _setup_signal_handlers(self) -> None:
        """The handler for SIGINT and SIGTERM (the SDK's places), and for SIGHUP."""
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                if hasattr(signal, name):
                    signal.signal(getattr(signal, name), self._handle_termination)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        """Stop at once (module docstring); a signal while stopping is ignored."""
        if self._stop_signal is not None:
            self.logger.warning("Received %s while stopping: ignored", signal.Signals(signum).name)
            return
        self._stop_signal = signum
        self._exit_if_succeeded(signum)
        raise Interrupted(signum)

    def _exit_if_succeeded(self, signum: int) -> None:
        """After the run was recorded ``succeeded`` a signal has nothing to stop: exit 0."""
        if self._run is not None and self._run.status == "succeeded":
            self.logger.warning(
                "target-cdp received %s after the run was recorded succeeded: all its work is "
                "committed and its STATE emitted; nothing to stop",
                signal.Signals(signum).name,
            )
            sys.exit(0)

    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Process the input; record a failed run and fail with one clear line on error.

        After a signal, whatever error surfaces is the interruption (DuckDB, interrupted in a
        statement, raises "Query interrupted" instead): the run is recorded ``aborted``.
        """
        if file_input is None and isinstance(sys.stdin, io.TextIOWrapper):
            # Invalid UTF-8 decodes to lone surrogates: rejected per record (storable.py).
            sys.stdin.reconfigure(errors="surrogateescape")
        try:
            super().listen(file_input)
        except (Exception, Interrupted) as exc:
            if self._stop_signal is not None:
                self._stop(self._stop_signal)
            self.logger.error(
                "target-cdp failed: %s", mask_secrets(str(exc), self.settings.database_url)
            )
            if self._run is not None:
                self._run.fail(exc)
            raise

    def _stop(self, signum: int) -> t.NoReturn:
        """Record the run aborted; exit 128 + the signal number with one line."""
        self._exit_if_succeeded(signum)
        name = signal.Signals(signum).name
        if self._run is not None:
            self._run.abort(name)
        self.logger.error(
            "target-cdp stopped by %s: work not committed yet was rolled back and no STATE "
            "was emitted for it; the next run resumes from the last STATE emitted",
            name,
        )
        sys.exit(128 + signum)

    def process_endofpipe(self) -> None:
        """Drain everything, retire deferred versions, emit state, purge, record, summarise.

        Input without any SCHEMA (only STATE, or nothing) is a run too: recorded in
        ``sync_runs``, and activities that aged out since the last run are purged.
        """
        run = self.cdp_run()
        self._retire_deferred()
        super().process_endofpipe()
        run.finish()
        run.dispose()


def _rank(sink: Sink) -> int:
    """Where the sink's stream comes in drain order (unknown streams last)."""
    return RANK.get(sink.stream_name, len(RANK))
