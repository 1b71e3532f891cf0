"""Shared by the tap benchmarks: run the tap CLI against a sandbox and measure it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TAP = str(Path(sys.executable).with_name("tap-pipedrive"))


@dataclass
class TapMeasure:
    """What one tap run cost."""

    records: dict[str, int]
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    requests: int
    tokens: int
    requests_by_operation: dict[str, int]
    final_state: dict[str, Any]

    @property
    def total_records(self) -> int:
        return sum(self.records.values())


def run_tap(
    sandbox: Any, settings: dict[str, Any] | None = None, state: dict[str, Any] | None = None
) -> TapMeasure:
    """Run ``tap-pipedrive`` as a subprocess; count its records; read its rusage."""
    config = {"api_token": sandbox.api_token, "api_url": sandbox.base_url, **(settings or {})}
    sandbox.control.reset_stats()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config))
        command = [TAP, "--config", str(config_path)]
        if state is not None:
            state_path = Path(tmp) / "state.json"
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        records: dict[str, int] = {}
        final_state: dict[str, Any] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(b'{"type":"RECORD"'):
                stream = line[27 : line.index(b'"', 27)].decode()
                records[stream] = records.get(stream, 0) + 1
            elif line.startswith(b'{"type":"STATE"'):
                final_state = json.loads(line)["value"]
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"tap-pipedrive exited with status {status}")
    stats = sandbox.control.stats()
    return TapMeasure(
        records=records,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
        requests=stats["requests"],
        tokens=stats["tokens_spent"],
        requests_by_operation={k: v["requests"] for k, v in stats["by_operation"].items()},
        final_state=final_state,
    )
