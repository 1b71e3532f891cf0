"""One sink for every stream: each record runs through the actions that apply, in order.

``audience_changes`` records (tap-cdp) are what templates see at top level; any other stream's
records are seen as their own columns plus ``record``, checked against the stream's schema when
it arrives. A later action sees what an earlier one produced: after a person upsert or create,
``person.pipedrive_person_id`` is the id it found or made (a deal's, ``deal.pipedrive_deal_id``).
"""

from __future__ import annotations

import copy
import hashlib
import typing as t

import orjson
from singer_sdk.sinks import RecordSink
from tap_pipedrive.errors import BudgetExhausted

from target_pipedrive.actions import ActionConfigError
from target_pipedrive.settings import error
from target_pipedrive.templates import record_names

AUDIENCE_CHANGES = "audience_changes"


class ActionSink(RecordSink):
    """Runs the target's actions for each record of one stream."""

    def __init__(
        self,
        target: t.Any,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.plugin = target
        self.actions = [a for a in target.actions if (a.stream or AUDIENCE_CHANGES) == stream_name]
        if self.stream_name != AUDIENCE_CHANGES:
            names = record_names((self.schema.get("properties") or {}).keys())
            for action in self.actions:
                try:
                    action.check_variables(names)
                except ActionConfigError as exc:
                    raise error("actions", str(exc)) from None

    def _parse_timestamps_in_record(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Keep times as the text the tap sent: templates and payload hashes see one form."""

    def source_key(self, record: dict[str, t.Any]) -> str:
        """The record's key: ``change_id``, else its key properties, else its content hash."""
        if self.stream_name == AUDIENCE_CHANGES and record.get("change_id"):
            return str(record["change_id"])
        if self.key_properties:
            return ":".join(str(record.get(k)) for k in self.key_properties)
        return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Run every applicable action, in the order listed."""
        target = self.plugin
        if target.stopped or not self.actions:
            return
        key = self.source_key(record)
        if self.stream_name == AUDIENCE_CHANGES:
            data = copy.deepcopy(record)
        else:
            data = {**copy.deepcopy(record), "record": record}
        cdp_ids = (record.get("person_id"), record.get("deal_id"))
        for action in self.actions:
            if not action.applies_to(self.stream_name, record):
                continue
            try:
                produced = target.runner.run(action, key, data, cdp_ids)
            except BudgetExhausted as exc:
                target.stop(str(exc))
                return
            if produced is not None:
                holder = {"person": "person", "deal": "deal"}.get(action.object_type)
                if holder and isinstance(data.get(holder), dict):
                    data[holder][f"pipedrive_{holder}_id"] = produced
