"""One sink for every stream: each record runs through the actions that apply, in order.

``audience_changes`` records (tap-cdp) are what templates see at top level; any other stream's
records are seen as their own columns plus ``record``, checked against the stream's schema when
it arrives. A later action sees what an earlier one produced: after a person upsert or create,
``person.pipedrive_person_id`` is the id it found or made (a deal's, ``deal.pipedrive_deal_id``).

Records are acted on in batches (``BATCH_SIZE``, and whatever is held when a STATE arrives or
the input ends): each action runs for the batch's records at once (the runner's waves), then
the next action, so a record's actions still run in the order listed while the calls of
different records overlap.
"""

from __future__ import annotations

import copy
import hashlib
import typing as t

import orjson
from singer_sdk.sinks import RecordSink
from tap_pipedrive.errors import BudgetExhausted

from target_pipedrive.actions import ActionConfigError
from target_pipedrive.runner import Record
from target_pipedrive.settings import error
from target_pipedrive.templates import record_names

AUDIENCE_CHANGES = "audience_changes"
#: Records acted on together: about a burst window's worth of calls per wave. After a crash,
#: the intents of at most one batch per action are looked up before creating.
BATCH_SIZE = 25


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
        self.held: list[tuple[dict[str, t.Any], Record]] = []
        target.action_sinks.append(self)
        self.actions = [a for a in target.actions if (a.stream or AUDIENCE_CHANGES) == stream_name]
        if self.stream_name != AUDIENCE_CHANGES:
            names = record_names((self.schema.get("properties") or {}).keys())
            for action in self.actions:
                try:
                    action.check_variables(names)
                except ActionConfigError as exc:
                    raise error("actions", str(exc)) from None

    def _parse_timestamps_in_record(
        self,
        record: dict,
        schema: dict,
        treatment: t.Any,
    ) -> None:
        """Keep times as the text the tap sent: templates and payload hashes see one form."""

    def source_key(self, record: dict[str, t.Any]) -> str:
        """The record's key: ``change_id``, else its key properties, else its content hash."""
        if self.stream_name == AUDIENCE_CHANGES and record.get("change_id"):
            return str(record["change_id"])
        if self.key_properties:
            return ":".join(str(record.get(k)) for k in self.key_properties)
        return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Hold the record; act on the held ones once there are ``BATCH_SIZE``."""
        if self.plugin.stopped or not self.actions:
            return
        key = self.source_key(record)
        if self.stream_name == AUDIENCE_CHANGES:
            data = copy.deepcopy(record)
        else:
            data = {**copy.deepcopy(record), "record": record}
        cdp_ids = (record.get("person_id"), record.get("deal_id"))
        for other in self.plugin.action_sinks:  # records of another stream came first
            if other is not self and other.held:
                other.act()
        if any(_same_object(cdp_ids, item.cdp_ids) for _, item in self.held):
            # A batch runs one action for all its records, then the next action: a later
            # record about the same CDP person or deal (a deal that left an audience, then
            # entered it again) waits for the next batch, so its actions come after.
            self.act()
        self.held.append((record, Record(key, data, cdp_ids)))
        if len(self.held) >= BATCH_SIZE:
            self.act()

    def act(self) -> None:
        """Run every applicable action, in the order listed, for the records held."""
        target = self.plugin
        held, self.held = self.held, []
        for action in self.actions:
            if target.stopped:
                return
            chosen = [item for record, item in held if action.applies_to(self.stream_name, record)]
            try:
                produced = target.runner.run_batch(action, chosen)
            except BudgetExhausted as exc:
                target.stop(str(exc))
                return
            holder = {"person": "person", "deal": "deal"}.get(action.object_type)
            for item, pipedrive_id in zip(chosen, produced, strict=True):
                if holder and pipedrive_id is not None and isinstance(item.data.get(holder), dict):
                    item.data[holder][f"pipedrive_{holder}_id"] = pipedrive_id


def _same_object(ids: tuple[t.Any, t.Any], other: tuple[t.Any, t.Any]) -> bool:
    """Whether two records name the same CDP person or the same CDP deal."""
    return any(mine is not None and mine == theirs for mine, theirs in zip(ids, other, strict=True))
