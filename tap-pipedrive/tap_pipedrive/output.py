"""Writing Singer messages fast.

The SDK's msgspec writer serializes quickly but flushes stdout after every message, one system
call per record. This writer lets records accumulate in stdout's buffer and flushes on every
other message type: a STATE message is therefore never visible downstream before the records it
covers, and a killed tap loses at most records whose state was never written (they are re-read
on the next run).
"""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType
from singer_sdk.singerlib.encoding.simple import Message


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec serialization; flush only on non-RECORD messages."""

    def write_message(self, message: Message) -> None:
        """Write one message; flush unless it is a RECORD."""
        stdout = sys.stdout
        stdout.buffer.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            stdout.flush()
