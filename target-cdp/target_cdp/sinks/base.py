"""The SDK adapter every sink builds on: Singer records in, one transaction per batch.

``CDPSink`` turns the SDK's per-record checks into rejections (a bad record goes to
``rejected_records`` and the run goes on), keeps each record's table ``version``, sizes batches
by bytes as well as rows, and writes each batch in one transaction, counted once committed.
What a batch means is each sink's ``write``: ``sinks/objects.py`` for Pipedrive objects,
``reference.py`` for catalogs, ``usage.py``, ``unknown.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_cdp import bulk, sdk_private, storable
from target_cdp.validation import FastJSONSchemaValidator

if TYPE_CHECKING:
    from target_cdp.run import Run
    from target_cdp.target import TargetCDP

REJECTION = "__target_cdp_rejection__"
SIZE = "__target_cdp_size__"
VERSION = "_sdc_table_version"

Counts = dict[str, Counter[str]]


@dataclass
class Incoming:
    """A record of the batch, as received."""

    record: dict
    version: int | None
    rejection: str | None


class CDPSink(BatchSink):
    """A sink writing one stream into the CDP."""

    def __init__(
        self, target: TargetCDP, stream_name: str, schema: dict, key_properties: Any
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        #: What the sink reports to and writes with (settings, database, tables, counts): the
        #: run, not the target.
        self.run: Run = target.cdp_run()

    # -- SDK hooks: keep the table version, reject instead of failing ---------------------

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A compiled validator (``validate_records: false`` turns validation off)."""
        return FastJSONSchemaValidator(self.schema) if self.validate_schema else None

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Always on, so that each RECORD's table ``version`` reaches the sink."""
        return True

    def _add_sdc_metadata_to_schema(self) -> None:
        self.schema["properties"][VERSION] = {"type": ["null", "integer"]}

    def _add_sdc_metadata_to_record(self, record: dict, message: dict, context: dict) -> None:  # noqa: ARG002
        record[VERSION] = message.get("version")

    def _validate_and_parse(self, record: dict) -> dict:
        # Timestamps stay RFC 3339 strings (parsed where used). A value no database can hold
        # (checked whatever the SCHEMA says) and a schema failure are rejections.
        size = storable.json_size(record)
        reason = storable.problem(record, size)
        if reason is None and self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                reason = f"does not match the stream schema: {exc.error_message}"
        if reason is not None:
            record[REJECTION] = reason
        record[SIZE] = size or 0  # counted towards the batch's bytes (``is_full``)
        return record

    def _singer_validate_message(self, record: dict) -> None:
        missing = [k for k in self.key_properties if k not in record]
        if missing and REJECTION not in record:
            record[REJECTION] = f"missing key properties {missing}"

    def process_record(self, record: dict, context: dict) -> None:
        """Buffer the record with its version and any rejection reason."""
        version = record.pop(VERSION, None)
        rejection = record.pop(REJECTION, None)
        size = record.pop(SIZE, 0)
        if version is not None:
            self.run.versions_received[self.stream_name].add(version)
        context.setdefault("records", []).append(Incoming(record, version, rejection))
        context["bytes"] = context.get("bytes", 0) + size

    @property
    def is_full(self) -> bool:
        """Full at ``batch_size_rows`` records, or at ``storable.MAX_BATCH_BYTES`` of JSON."""
        pending = sdk_private.pending_batch(self)
        return super().is_full or pending.get("bytes", 0) >= storable.MAX_BATCH_BYTES

    def process_batch(self, context: dict) -> None:
        """Write the batch in one transaction; count it only once committed."""
        counts: Counts = defaultdict(Counter)
        with self.run.db.transaction(f"writing a batch of stream '{self.stream_name}'") as conn:
            self.write(conn, context.get("records", []), counts)
        self.run.add(counts)

    def write(self, conn: sa.Connection, items: list[Incoming], counts: Counts) -> None:
        """Write a batch (inside the transaction)."""
        raise NotImplementedError

    def reject(
        self, conn: sa.Connection, rejected: list[tuple[Incoming, str]], counts: Counts
    ) -> None:
        """Store rejected records (each distinct raw record once, in a form any database holds)."""
        rows: dict[str, dict] = {}
        for item, reason in rejected:
            raw = storable.escaped(item.record)
            text = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
            key = hashlib.sha256(self.stream_name.encode() + b"\n" + text).hexdigest()
            record_key = raw.get(self.key_properties[0]) if self.key_properties else None
            rows[key] = {
                "rejection_key": key,
                "stream": self.stream_name,
                "record_key": None if record_key is None else str(record_key),
                "reason": reason,
                "raw_record": raw,
                "first_run_id": self.run.run_id,
            }
        bulk.upsert(conn, self.run.tables.rejected_records, list(rows.values()), update=False)
        counts[self.stream_name]["rejected"] += len(rejected)
