"""target-pipedrive: performs declared actions on Pipedrive for the records it receives.

Thin: settings and actions are checked at startup (``settings``), each record runs through the
actions in the order listed (``sink``, by batches), each action exactly once (``runner``,
``ledger``). The records a sink holds are acted on before a STATE is taken in, so a STATE never
covers a record not acted on.
When Pipedrive's (or the configured) token budget runs out, the run stops cleanly: the records
after it are not acted on and no STATE after them is emitted, so the next run starts there.
A dry run emits no STATE at all (and writes no ledger): Meltano would otherwise save tap-cdp's
bookmark past changes that were only printed, and the real run would never act on them.
"""

from __future__ import annotations

import typing as t
import uuid

import click
from singer_sdk import Target
from singer_sdk.helpers.capabilities import PluginCapabilities
from tap_pipedrive.cli import PipedriveCommand

from target_pipedrive.client import PipedriveClient
from target_pipedrive.custom_fields import CustomFieldNames
from target_pipedrive.ledger import Ledger
from target_pipedrive.objects import FIELDS_COST, OBJECTS
from target_pipedrive.runner import Runner
from target_pipedrive.settings import CONFIG_JSONSCHEMA, check, error
from target_pipedrive.sink import ActionSink

if t.TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum


PAUSED = (
    "the write-back is off (setting enabled: false); turn it on to act on these changes, "
    "which wait for it"
)


class TargetPipedrive(Target):
    """Write-back from the CDP into Pipedrive."""

    name = "target-pipedrive"
    config_jsonschema: t.ClassVar[dict] = CONFIG_JSONSCHEMA
    default_sink_class = ActionSink
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
    ]

    def __init__(self, **kwargs: t.Any) -> None:
        self.action_sinks: list[ActionSink] = []
        super().__init__(**kwargs)
        config = dict(self.config)
        self.actions = check(config)
        self.max_parallelism = 1
        self.stopped: str | None = None
        self.dry_run = bool(config.get("dry_run"))
        paused = config.get("enabled") is False
        credentials = config.get("api_token") or config.get("refresh_token")
        self.client = PipedriveClient(config) if credentials and not paused else None
        self.ledger = Ledger(
            config["database_url"],
            config.get("schema") or "cdp",
            uuid.uuid4().hex,
            writable=not (self.dry_run or paused),
        )
        if paused:
            self.stop(PAUSED)
        custom = self._custom_field_names() if self.client else {}
        self.runner = Runner(
            None if self.dry_run else self.client, self.ledger, custom, dry_run=self.dry_run
        )

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, reporting configuration, credential and API errors in one line
        (tap-pipedrive's command: the same API, the same errors)."""
        command = super().get_singer_command()
        command.__class__ = PipedriveCommand
        return command

    def _custom_field_names(self) -> dict[str, CustomFieldNames]:
        """Field definitions of the objects whose custom fields an action writes (one read
        each per run), and every name and literal label checked against them."""
        assert self.client is not None
        out: dict[str, CustomFieldNames] = {}
        for action in self.actions:
            target = action.target
            matched = action.verb == "upsert" and "email" not in action.match
            if not (action.custom_fields or matched) or target.custom_fields_entity is None:
                continue
            if target.name not in out:
                answer = self.client.call(
                    "GET", "v2", f"/{target.custom_fields_entity}", FIELDS_COST
                )
                out[target.name] = CustomFieldNames(target.name, answer.get("data") or [])
            try:
                action.check_custom_fields(out[target.name])
            except ValueError as exc:
                raise error("actions", str(exc)) from None
        return out

    def stop(self, reason: str) -> None:
        """Stop acting: the rest of the input waits for the next run."""
        if self.stopped is None:
            self.stopped = reason
            self.logger.warning(
                "Stopping cleanly: %s. The records after this point are left for the next "
                "run (no STATE past them is emitted).",
                reason,
            )

    def act_on_held(self) -> None:
        """Act on the records the sinks hold (they come before a STATE or the end)."""
        for sink in self.action_sinks:
            if sink.held:
                sink.act()

    def _process_state_message(self, message_dict: dict) -> None:
        """No STATE after a stop, nor in a dry run: it would cover records not acted on."""
        self.act_on_held()
        if self.stopped is None and not self.dry_run:
            self.ledger.flush()
            super()._process_state_message(message_dict)

    def process_endofpipe(self) -> None:
        """The input ended: act on the records held (an input may end without a STATE)."""
        self.act_on_held()
        self.runner.close()
        counts = dict(self.runner.counts)
        self.logger.info("target-pipedrive: %s", counts or "no action ran")
        if self.dry_run:
            self.logger.info(
                "dry_run: nothing was sent, no ledger row written and no STATE emitted: the "
                "next real run acts on these same changes"
            )
        super().process_endofpipe()
        self.ledger.dispose()


__all__ = ["OBJECTS", "TargetPipedrive"]
