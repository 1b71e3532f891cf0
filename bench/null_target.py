"""A singer-sdk target that reads every record and discards it: the SDK's own floor.

``target_throughput.py`` runs it on the same input as the real targets, so that the table
shows how much of any singer-sdk target's time is the SDK's per-record work (reading the JSON
line, routing the message, batching) before a target writes anything. Validation is off
(``validate_records: false`` in its config): what a target validates with is its own choice,
so it is counted in the target's time, not in the floor.
"""

from __future__ import annotations

from typing import Any, ClassVar

from singer_sdk import Target
from singer_sdk.sinks import BatchSink


class DiscardSink(BatchSink):
    """Buffers a batch as the SDK does, then drops it."""

    def process_batch(self, context: dict) -> None:
        """Write nothing."""
        _ = context


class NullTarget(Target):
    """Every stream goes to ``DiscardSink``."""

    name = "target-null"
    config_jsonschema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    default_sink_class = DiscardSink


if __name__ == "__main__":
    NullTarget.cli()
