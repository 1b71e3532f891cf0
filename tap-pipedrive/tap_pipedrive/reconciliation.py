"""Table versions: how deletes reach downstream for streams Pipedrive has no delete feed for.

Pipedrive's v2 lists do not return deleted persons, organizations or activities, v1 ``/notes``
does not say, and deleted deals disappear from ``status=deleted`` after 30 days. So every
incremental stream periodically makes a *reconciliation pass*: a full, sorted pass from
``start_date`` whose RECORD messages carry a new table ``version`` V. When the pass has read the
whole list it emits ``ACTIVATE_VERSION`` V, meaning "every row of this stream that was not sent
with version V (or a later one) is gone upstream". Between passes, incremental records carry the
last activated version, so a row touched by an incremental run is not mistaken for a deleted one.

The pass state lives in the stream's bookmark, so a pass interrupted by the token budget or a
crash resumes next run from its bookmark with the same version:

``table_version``
    the version of the last completed pass (carried by incremental records), or of a pass
    dropped since (:func:`forgo`);
``reconciliation``
    ``{"version": V, "started_at": ..., "changes_since": ...}`` while a pass is in progress;
    ``changes_since`` keeps the incremental bookmark from before the pass, so that changelog
    children are fetched only for objects that really changed;
``last_reconciled_at``
    when the last completed pass started; the next is due ``reconciliation_interval_days`` later;
``reconciled_version`` (per partition)
    the version whose pass this partition has finished.

Versions are Unix seconds (the SDK's own FULL_TABLE versions are too, and SQL targets keep
versions in 32-bit integer columns), made strictly increasing even for passes in the same second.

An ACTIVATE_VERSION is only true when the records sent with V are every record Pipedrive holds
(:func:`why_incomplete`). A record the tap's own configuration leaves out (a stream map
``__filter__``, records last updated before ``start_date``) is "not synced", not "deleted in
Pipedrive": such a stream makes no pass, sends no ACTIVATE_VERSION and its records carry no
version (a target keeps the version it stored), so the rows a complete sync put in the target
stay live. A pass that meets such a run is dropped (:func:`forgo`): it would have missed what
that run left out. What a separate mapper plugin between tap and target drops is out of the
tap's sight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from tap_pipedrive.timestamps import format_utc, to_rfc3339

TABLE_VERSION = "table_version"
IN_PROGRESS = "reconciliation"
LAST_RECONCILED_AT = "last_reconciled_at"
RECONCILED_VERSION = "reconciled_version"
BOOKMARK_KEYS = ("replication_key", "replication_key_value", RECONCILED_VERSION)


def next_version(previous: int | None, now: dt.datetime) -> int:
    """A version later than ``previous``: Unix seconds of ``now``, or ``previous + 1``."""
    return max(int(now.timestamp()), (previous or 0) + 1)


def is_due(stream_state: dict[str, Any], now: dt.datetime, interval_days: float) -> bool:
    """Whether a new pass should start (none ever completed, or the interval has passed)."""
    last = to_rfc3339(stream_state.get(LAST_RECONCILED_AT))
    if last is None:
        return True
    elapsed = now - dt.datetime.fromisoformat(last)
    return elapsed >= dt.timedelta(days=interval_days)


def begin_pass(
    stream_state: dict[str, Any],
    partition_states: Iterable[dict[str, Any]],
    now: dt.datetime,
) -> dict[str, Any]:
    """Start a pass: new version, bookmarks cleared so the pass reads from ``start_date``."""
    partitions = list(partition_states)
    bookmarks = [
        state.get("replication_key_value")
        for state in partitions
        if state.get("replication_key_value")
    ]
    reconciliation = {
        "version": next_version(stream_state.get(TABLE_VERSION), now),
        "started_at": format_utc(now),
        "changes_since": min(bookmarks) if bookmarks else None,
    }
    for state in partitions:
        for key in BOOKMARK_KEYS:
            state.pop(key, None)
    stream_state[IN_PROGRESS] = reconciliation
    return reconciliation


def finish_partition(partition_state: dict[str, Any], version: int) -> None:
    """Record that one partition has read its whole list for the pass ``version``."""
    partition_state[RECONCILED_VERSION] = version


def pass_complete(partition_states: Iterable[dict[str, Any]], version: int) -> bool:
    """Whether every partition has finished the pass ``version``."""
    return all(state.get(RECONCILED_VERSION) == version for state in partition_states)


def complete_pass(stream_state: dict[str, Any], partition_states: Iterable[dict[str, Any]]) -> int:
    """Close the pass in progress; return its version, now the table's active version."""
    reconciliation = stream_state.pop(IN_PROGRESS)
    version = int(reconciliation["version"])
    stream_state[TABLE_VERSION] = version
    stream_state[LAST_RECONCILED_AT] = reconciliation["started_at"]
    for state in partition_states:
        state.pop(RECONCILED_VERSION, None)
    return version


def forgo(stream_state: dict[str, Any], partition_states: Iterable[dict[str, Any]]) -> None:
    """This run's records are not the whole list: drop a pass in progress (its version would
    miss what this run leaves out) and the date of the last one, so that the first complete
    run reconciles at once. The dropped version stays the floor of the next (versions never
    repeat). Bookmarks stay: the incremental sync goes on without a gap."""
    dropped = stream_state.pop(IN_PROGRESS, None)
    if dropped is not None:
        previous = stream_state.get(TABLE_VERSION) or 0
        stream_state[TABLE_VERSION] = max(previous, int(dropped["version"]))
    stream_state.pop(LAST_RECONCILED_AT, None)
    for state in partition_states:
        state.pop(RECONCILED_VERSION, None)


@dataclass(frozen=True)
class RunPlan:
    """What one run of an incremental stream does about table versions."""

    version: int | None
    """The table version its records carry (None: the run is incomplete, they carry none)."""
    changes_since: str | None
    """Objects updated at or after this time changed since the previous run (None: unknown)."""
    begun: int | None = None
    """The version of the pass this run began, if it began one."""


def plan_run(
    stream_state: dict[str, Any],
    partition_states: Iterable[dict[str, Any]],
    now: dt.datetime,
    interval_days: float,
    *,
    complete: bool,
) -> RunPlan:
    """Decide, and record in the state, what this run does: an incomplete run drops a pass
    (:func:`forgo`), a complete one begins a pass when one is due and none is in progress.
    Records then carry the pass's version, or the last activated one (none if incomplete: the
    target keeps the version a complete sync stored, so that sync's next ACTIVATE_VERSION
    judges them rightly)."""
    partitions = list(partition_states)
    begun = None
    if not complete:
        forgo(stream_state, partitions)
    elif IN_PROGRESS not in stream_state and is_due(stream_state, now, interval_days):
        begun = int(begin_pass(stream_state, partitions, now)["version"])
    in_pass = stream_state.get(IN_PROGRESS)
    if in_pass is not None:
        return RunPlan(int(in_pass["version"]), in_pass.get("changes_since"), begun)
    bookmarks = [state.get("replication_key_value") for state in partitions]
    return RunPlan(
        stream_state.get(TABLE_VERSION) if complete else None,
        min((bookmark for bookmark in bookmarks if bookmark), default=None),
    )


def why_incomplete(
    stream_name: str,
    key_properties: Sequence[str],
    stream_maps: Mapping[str, Any] | None,
    *,
    start_date: str | None = None,
    is_child: bool = False,
) -> str | None:
    """Why the stream's records are not every record Pipedrive holds under its key, or None.

    ``stream_maps`` is the tap's ``stream_maps`` setting (the SDK applies it inside the tap);
    ``start_date`` is given for a stream read from it (incremental lists, not FULL_TABLE).
    Removing the stream (``None``/``__NULL__``), renaming it (``__alias__``) or projecting
    properties keeps every record under the same key, so none of these is a reason.
    """
    if is_child:
        return "it is read per parent object, never as one whole list"
    if start_date:
        return f"start_date {start_date} leaves out the records last updated before it"
    for name, definition in _maps_applying_to(stream_name, stream_maps or {}):
        if not isinstance(definition, Mapping):
            continue
        if "__filter__" in definition:
            return f"stream map '{name}' filters its records (__filter__)"
        keys = list(definition.get("__key_properties__", key_properties) or [])
        if keys != list(key_properties):
            return f"stream map '{name}' replaces the key {list(key_properties)} with {keys}"
    return None


def _maps_applying_to(
    stream_name: str, stream_maps: Mapping[str, Any]
) -> Iterator[tuple[str, Any]]:
    """The stream map definitions the SDK applies to ``stream_name``: its own (by name or
    wildcard) and every ``__source__`` copy of it (``__else__`` only removes unlisted streams)."""
    for name, definition in stream_maps.items():
        if name.startswith("__"):
            continue
        source = name
        if isinstance(definition, Mapping):
            source = str(definition.get("__source__", name))
        if stream_name == source or fnmatch(stream_name, source):
            yield name, definition
