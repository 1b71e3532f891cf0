"""Streams target-cdp does not know: every record is kept in ``rejected_records``."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from target_cdp.sinks.base import CDPSink, Incoming


class UnknownStreamSink(CDPSink):
    """Rejects every record of a stream the CDP has no place for (never crashes)."""

    def setup(self) -> None:
        """Warn once, naming the stream."""
        super().setup()
        self.logger.warning(
            "Unknown stream '%s': target-cdp has no table for it; its records go to "
            "rejected_records",
            self.stream_name,
        )

    def write(
        self, conn: sa.Connection, items: list[Incoming], counts: dict[str, Counter[str]]
    ) -> None:
        """Reject the whole batch."""
        reason = f"unknown stream '{self.stream_name}': target-cdp does not load this stream"
        self.reject(conn, [(item, reason) for item in items], counts)

    def activate_version(self, new_version: int) -> None:
        """Nothing of an unknown stream is stored, so nothing is retired."""
        _ = new_version
