"""The private singer-sdk names target-pipedrive overrides, why, and the check on upgrade.

singer-sdk (pinned in pyproject.toml) promises nothing about names with a leading underscore:
an upgrade may remove or rename one, and an override of a vanished method is silently never
called (this target once overrode ``_process_endofpipe``, which singer-sdk 0.54 never calls, so
the records after the last STATE were not acted on). ``tests/test_writeback_sdk_private.py``
checks each name below still exists with the parameters the override has, through target-cdp's
``moved`` (the same check for every plugin of this workspace), and that every private SDK
method the target overrides is listed here.

- ``Target._process_state_message(message_dict)`` (override in ``TargetPipedrive``): act on
  the held records before a STATE is taken in, and take in none after a stop or in a dry run,
  where it would cover records not acted on.
- ``Sink._parse_timestamps_in_record(record, schema, treatment)`` (override in ``ActionSink``):
  keep times as the text the tap sent, so templates and payload hashes see one form.
"""

from __future__ import annotations

from target_cdp.sdk_private import PrivateName

PRIVATE_NAMES: tuple[PrivateName, ...] = (
    PrivateName(
        "singer_sdk.target_base:Target",
        "_process_state_message",
        ("self", "message_dict"),
        "target_pipedrive.target:TargetPipedrive",
    ),
    PrivateName(
        "singer_sdk.sinks.core:Sink",
        "_parse_timestamps_in_record",
        ("self", "record", "schema", "treatment"),
        "target_pipedrive.sink:ActionSink",
    ),
)
