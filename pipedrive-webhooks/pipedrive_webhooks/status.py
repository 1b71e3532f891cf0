"""The text ``pipedrive-webhooks status`` prints: the spool, the applying job, the safety net and
the subscriptions. Built from data only (no I/O), and never from a credential: subscriptions
are shown by id, event, version, state and last delivery, not by their Basic auth fields."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pipedrive_webhooks.safety_net import PollRun
from pipedrive_webhooks.spool import RunRecord, SpoolStatus


def _time(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_line(run: RunRecord) -> str:
    if run.finished_at is None:
        outcome = "still running (or the receiver stopped during it)"
    else:
        outcome = f"finished {_time(run.finished_at)}, exit code {run.exit_code}"
    applied = (
        f"applied through position {run.applied_through}"
        if run.applied_through is not None
        else "applied position not reported by the job"
    )
    return (
        f"  last run: #{run.run_id} ({run.reason}) started {_time(run.started_at)} at spool "
        f"position {run.spool_position_at_start}, {outcome}; {applied}"
    )


def spool_lines(spool_url: str, status: SpoolStatus) -> list[str]:
    """The spool's counts, newest event and dead letters."""
    lines = [
        f"Spool: {spool_url}",
        f"  events: {status.events} (position {status.position}); backlog: {status.backlog} "
        f"after applied position {status.applied_position}",
    ]
    event = status.last_event
    if event is None:
        lines.append("  last event: none yet")
    else:
        lines.append(
            f"  last event: #{event.seq} {event.action} {event.entity} {event.entity_id} "
            f"(meta.id {event.event_id}) received {_time(event.received_at)}"
        )
    if status.dead_letters:
        lines.append(
            f"  dead letters: {status.dead_letters}, last {_time(status.last_dead_letter_at)}: "
            f"{status.last_dead_letter_reason}"
        )
    else:
        lines.append("  dead letters: 0")
    return lines


def poll_run_text(run: PollRun | None, problem: str | None) -> str:
    """The safety net's last run, in a phrase."""
    if problem is not None:
        return f"last run unknown: {problem}"
    if run is None:
        return "no run recorded in Meltano's run history yet"
    ended = f", ended {_time(run.ended_at)}" if run.ended_at else ""
    return f"last run {run.state_id} {run.state}, started {_time(run.started_at)}{ended}"


def run_lines(
    command: Sequence[str], safety_net: str, poll_run: str, last_run: RunRecord | None
) -> list[str]:
    """The applying job: its command and last run; the safety net and its last run."""
    shown = shlex.join(command) if command else "(none: events are only spooled)"
    lines = [f"Apply job: {shown}"]
    lines.append(_run_line(last_run) if last_run is not None else "  last run: none yet")
    lines.append(f"Safety net for events missed while the receiver was down: {safety_net}")
    lines.append(f"  {poll_run}")
    return lines


def subscription_lines(
    url: str,
    kept: Sequence[Mapping[str, Any]],
    stale: Sequence[Mapping[str, Any]],
    missing: Sequence[str],
    others: int,
) -> list[str]:
    """Our subscriptions as Pipedrive lists them, what is missing, and how many others exist."""
    lines = [f"Subscriptions delivering to {url}:"]
    for hook in [*kept, *stale]:
        state = "active" if hook.get("is_active") in (1, True) else "INACTIVE"
        delivery = hook.get("last_delivery_time") or "never"
        http = hook.get("last_http_status")
        lines.append(
            f"  #{hook.get('id')} {hook.get('event_action')}.{hook.get('event_object')} "
            f"version {hook.get('version')} {state}, last delivery {delivery}"
            + (f" (HTTP {http})" if http is not None else "")
            + ("" if hook in kept else "  <- not as register makes it: run register")
        )
    if not kept and not stale:
        lines.append("  none")
    if missing:
        lines.append(f"  missing: {', '.join(missing)} (run register)")
    lines.append(f"  other webhooks of the company: {others}")
    return lines
