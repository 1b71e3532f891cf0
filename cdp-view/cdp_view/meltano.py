"""The Meltano project the view belongs to: read its configuration, change it through Meltano.

Every change runs ``meltano --environment <env> ...`` in the project directory, so
``meltano.yml`` and ``.env`` stay the single source of truth and Meltano's own rules (setting
kinds, environments, ``.env`` for secrets) apply. Reads that need Meltano's resolution (the
effective plugin configuration) go through ``meltano config print``; the schedules and jobs
are read from ``meltano.yml`` directly (Meltano has no JSON listing of jobs).

A Meltano call costs seconds, so the configuration is read once and again after each change.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

#: Meltano's log lines (``2026-01-01T00:00:00Z [info ] ...``) and traceback frames.
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+\s+\[(\w+)\s*\]\s+\S+\s+(.*)$")
MELTANO_TIMEOUT = 120
#: Schedules paused by Disconnect keep their definition with this interval.
PAUSED_INTERVAL = "@manual"


class MeltanoCommandError(RuntimeError):
    """A Meltano command failed; the message is Meltano's own error line."""


@dataclass(frozen=True)
class Schedule:
    """One ``schedules:`` entry and the extractor it runs (through its job or directly)."""

    name: str
    interval: str
    job: str | None
    extractors: tuple[str, ...]

    @property
    def paused(self) -> bool:
        """A schedule Meltano never runs on its own."""
        return self.interval in {PAUSED_INTERVAL, "@none", "@once"}

    def next_run(self, now: dt.datetime) -> dt.datetime | None:
        """When an orchestrator runs it next (None: paused or not a cron interval)."""
        if self.paused or not croniter.is_valid(self.interval):
            return None
        return croniter(self.interval, now).get_next(dt.datetime)


class MeltanoProject:
    """One Meltano project directory, in one environment."""

    def __init__(self, root: Path, environment: str, executable: str | None = None) -> None:
        self.root = root
        self.environment = environment
        found = executable or shutil.which("meltano")
        if not found:
            msg = "meltano is not on PATH: set the cdp-view setting meltano_executable"
            raise MeltanoCommandError(msg)
        self.executable = found
        self._parsed: tuple[tuple[int, int], dict[str, Any]] | None = None

    def run(self, *args: str) -> str:
        """Run one Meltano command; raise ``MeltanoCommandError`` with Meltano's error line."""
        command = [self.executable, "--environment", self.environment, *args]
        env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
        env.pop("MELTANO_PROJECT_ROOT", None)  # the cwd names the project
        result = subprocess.run(  # noqa: S603 - arguments are a list, never a shell string
            command,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=MELTANO_TIMEOUT,
        )
        if result.returncode != 0:
            raise MeltanoCommandError(_error_line(result.stdout + result.stderr))
        return result.stdout

    def plugin_config(self, plugin: str) -> dict[str, Any]:
        """The configuration Meltano passes to ``plugin`` (secrets included: never render it)."""
        output = self.run("config", "--unsafe", "print", plugin, "--format", "json")
        return json.loads(output[output.index("{") : output.rindex("}") + 1])

    def select_patterns(self, extractor: str) -> list[str]:
        """The extractor's ``select`` list in the active environment.

        Read from meltano.yml (a Meltano call costs seconds): the environment's own list
        replaces the plugin's, as Meltano resolves it.
        """
        data = self.project_file()
        for environment in data.get("environments") or []:
            if environment.get("name") != self.environment:
                continue
            plugins = (environment.get("config") or {}).get("plugins") or {}
            for plugin in plugins.get("extractors") or []:
                if plugin.get("name") == extractor and "select" in plugin:
                    return list(plugin["select"] or [])
        for plugin in (data.get("plugins") or {}).get("extractors") or []:
            if plugin.get("name") == extractor:
                return list(plugin.get("select") or [])
        return []

    def set_setting(self, plugin: str, name: str, value: Any) -> None:
        """``meltano config set`` (the active environment's block of meltano.yml)."""
        text = value if isinstance(value, str) else json.dumps(value)
        self.run("config", "set", plugin, name, text)

    def unset_setting(self, plugin: str, name: str) -> None:
        """``meltano config unset``: back to the plugin's default."""
        self.run("config", "unset", plugin, name)

    def pause_schedule(self, name: str) -> None:
        """Keep the schedule's definition but let no orchestrator run it."""
        self.run("schedule", "set", name, "--interval", PAUSED_INTERVAL)

    def project_file(self) -> dict[str, Any]:
        """meltano.yml as data, parsed again only when the file changed."""
        path = self.root / "meltano.yml"
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        if self._parsed is None or self._parsed[0] != version:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506
            self._parsed = (version, data)
        return self._parsed[1]

    def has_plugin(self, name: str) -> bool:
        """Whether meltano.yml defines a plugin of this name (any type)."""
        plugins = self.project_file().get("plugins") or {}
        return any(p.get("name") == name for kind in plugins.values() for p in kind or [])

    def schedules(self) -> list[Schedule]:
        """The project's schedules, with the extractors each one runs."""
        data = self.project_file()
        inherits = {
            p["name"]: p.get("inherit_from")
            for p in (data.get("plugins") or {}).get("extractors") or []
        }
        jobs = {job["name"]: job.get("tasks") or [] for job in data.get("jobs") or []}
        result = []
        for entry in data.get("schedules") or []:
            words: list[str] = []
            if entry.get("job"):
                for task in jobs.get(entry["job"], []):
                    words += " ".join(task if isinstance(task, list) else [task]).split()
            else:
                words.append(str(entry.get("extractor", "")))
            result.append(
                Schedule(
                    name=entry["name"],
                    interval=str(entry.get("interval", "")),
                    job=entry.get("job"),
                    extractors=tuple(w for w in words if w in inherits),
                )
            )
        return result

    def schedules_of(self, extractor: str) -> list[Schedule]:
        """Schedules that run ``extractor`` or a plugin inheriting from it."""
        plugins = (self.project_file().get("plugins") or {}).get("extractors") or []
        family = {extractor} | {p["name"] for p in plugins if p.get("inherit_from") == extractor}
        return [s for s in self.schedules() if family & set(s.extractors)]


def _error_line(output: str) -> str:
    """Meltano's error in one line: its last ``[error]`` log line, else the last line."""
    errors = []
    for line in output.splitlines():
        match = _LOG_LINE.match(line.strip())
        if match and match.group(1) in {"error", "critical"}:
            errors.append(match.group(2).strip())
    if errors:
        return errors[-1]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "meltano failed without a message"
