"""Running tap-cdp in this process, and the Singer messages of a run."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tap_cdp.tap import TapCDP


@dataclass
class TapRun:
    """The Singer messages of one run, sorted out."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for message in self.messages:
            if message["type"] == "RECORD":
                self.records[message["stream"]].append(message["record"])
            elif message["type"] == "SCHEMA":
                self.schemas[message["stream"]] = message
            elif message["type"] == "STATE":
                self.states.append(message["value"])

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def change_ids(self) -> list[str]:
        return [record["change_id"] for record in self.records["audience_changes"]]


def catalog_for(config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """The discovered catalog with exactly ``streams`` selected."""
    catalog = TapCDP(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    streams: set[str] = frozenset({"audience_changes"}),
) -> TapRun:
    """Run a sync of ``streams`` in this process (as the CLI does) and collect its messages."""
    catalog = catalog_for(config, set(streams))
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(buffer):
        TapCDP(config=config, state=copy.deepcopy(state), catalog=catalog).sync_all()
        buffer.flush()
    buffer.seek(0)
    return TapRun([json.loads(line) for line in buffer.read().splitlines() if line.strip()])
