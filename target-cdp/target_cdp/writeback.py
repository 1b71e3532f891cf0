"""Loop prevention: the CDP's own write-backs, told apart when Pipedrive sends them back.

What target-pipedrive writes comes back through tap-pipedrive (and webhooks). Taken as any
other change, a note it added would be ``pipedrive.note.added`` engagement, a deal it moved
a ``pipedrive.deal.stage_changed`` touch, and the Pipedrive person it made from a CDP person
would overwrite that person's fields with Pipedrive's copy of them. target-pipedrive records
every write in ``writeback_ledger`` (action, object type, Pipedrive id, payload; in this
database, docs/cdp-schema.md) before the next sync can bring it back, so the target reads it:

- an activity derived from a record the write-back made is marked with the action's name in
  ``attributes.writeback_action``, and is not counted in ``activity_summary``; the dbt
  audiences leave marked activities out of engagement. Marked: the creation of a note,
  activity, person, organization or deal the ledger names (``*.added``/``*.created``) when the
  action could have made it, and a deal's stage change to the stage the ledger says an action
  wrote. The ledger does not store the action's verb, but its payload's ``match`` shows it:
  an ``update`` matches exactly the object's ``id`` and made nothing (a deal a salesperson
  created keeps its creation unmarked); a ``create`` matches nothing; an ``upsert`` (persons)
  matches its search key and is taken as the maker, since the ledger does not say whether it
  found the person or created it. A later change made in
  Pipedrive by someone (a call completed, the deal moved on) is not the write-back's and is
  not marked.
- the echo of a Pipedrive person the write-back wrote from a CDP person of another source
  (ledger row of object ``person``) only fills that CDP person's empty fields, whatever
  ``merge_strategy`` says: the CDP person is where the values written came from, and
  Pipedrive's copy of them (``name`` split in its own way, an existing Pipedrive person's
  other name) would change the action's next payload. The echo is a record whose
  ``update_time`` is at or before the ``updated_at`` of the person's latest done ledger row
  (when Pipedrive's answer was recorded, so after Pipedrive stamped the write) plus
  ``ECHO_MARGIN`` (5 minutes of clock skew between Pipedrive and this machine), or that has no
  ``update_time``. A record changed later is an edit made in Pipedrive (a salesperson
  correcting the email or name) and follows ``merge_strategy`` as usual; an edit made within
  the margin after a write is taken as its echo and only fills gaps. Comparing the values
  written instead would not do: Pipedrive answers with its own copy (``name`` split), so equal
  values cannot be told from the write-back's.

A CDP without the ledger (target-pipedrive never ran) has no write-backs: nothing is marked.
A write whose ledger row is still ``intent`` (a crash between Pipedrive's answer and the
ledger) is not known to be the write-back's until target-pipedrive's next run finds it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activities import Activity
from target_cdp.records import parse_time

LEDGER = "writeback_ledger"
#: The activity attribute naming the action whose write an activity records.
MARK = "writeback_action"
#: Events that record the making of a record.
CREATION_EVENTS = frozenset({"added", "created"})
#: Clock skew allowed between Pipedrive's ``update_time`` and the ledger's ``updated_at``.
ECHO_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Write:
    """One done write of the ledger: the action, the body it sent and when it was recorded.

    ``is_update``: the action updated the object its match names by ``id`` (verb ``update``),
    so it made nothing.
    """

    action: str
    body: dict[str, Any]
    done_at: dt.datetime
    is_update: bool = False


def is_echo(update_time: dt.datetime | None, writes: Iterable[Write]) -> bool:
    """Whether a record changed at ``update_time`` is the echo of one of ``writes`` (its own).

    Up to ``ECHO_MARGIN`` after the latest write's ``done_at``; a record without a time is
    taken as an echo (nothing says it is later).
    """
    latest = max((w.done_at for w in writes), default=None)
    if latest is None:
        return False
    return update_time is None or update_time <= latest + ECHO_MARGIN


def echo_of(activity: Activity, writes: Iterable[Write]) -> str | None:
    """The action whose write this activity records, if any (``writes`` are of its record)."""
    event = activity.activity_type.rsplit(".", 1)[-1]
    for write in writes:
        if event in CREATION_EVENTS and not write.is_update:
            return write.action
        stage = write.body.get("stage_id")
        written_stage = stage is not None and str(activity.attributes.get("stage_id")) == str(stage)
        if event == "stage_changed" and written_stage:
            return write.action
    return None


class Writebacks:
    """The ledger of target-pipedrive in the CDP's schema, read when records come back."""

    def __init__(self, schema: str, qualified_schema: str | None) -> None:
        self.schema = schema
        self.ledger = sa.table(
            LEDGER,
            sa.column("action", sa.Text),
            sa.column("object_type", sa.Text),
            sa.column("pipedrive_id", sa.BigInteger),
            sa.column("payload", sa.Text),
            sa.column("status", sa.Text),
            sa.column("updated_at", sa.DateTime(timezone=True)),
            schema=qualified_schema,
        )

    def _exists(self, conn: sa.Connection) -> bool:
        return (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = :name"
                    " AND table_schema = :schema AND table_catalog = current_database()"
                ),
                {"name": LEDGER, "schema": self.schema},
            ).scalar_one()
            > 0
        )

    def writes(
        self, conn: sa.Connection, object_type: str, ids: Iterable[int]
    ) -> dict[int, list[Write]]:
        """The done writes of these Pipedrive objects, by id (none without a ledger)."""
        wanted = sorted({i for i in ids if i is not None})
        if not wanted or not self._exists(conn):
            return {}
        t = self.ledger
        found: dict[int, list[Write]] = {}
        query = sa.select(t.c.pipedrive_id, t.c.action, t.c.payload, t.c.updated_at).where(
            t.c.object_type == object_type,
            t.c.status == "done",
            bulk.among(t.c.pipedrive_id, wanted),
        )
        for pipedrive_id, action, payload, done_at in conn.execute(query.order_by(t.c.action)):
            sent = json.loads(payload) if isinstance(payload, str) else payload or {}
            is_update = set(sent.get("match") or {}) == {"id"}
            write = Write(action, sent.get("body") or {}, parse_time(done_at), is_update)
            found.setdefault(int(pipedrive_id), []).append(write)
        return found

    def mark(self, conn: sa.Connection, activities: list[Activity]) -> None:
        """Mark the activities that record a write of the write-back (``MARK`` attribute)."""
        by_kind: dict[str, set[int]] = {}
        for activity in activities:
            kind, _, pid = activity.source_record.partition(":")
            if pid.isdigit():
                by_kind.setdefault(kind, set()).add(int(pid))
        writes = {kind: self.writes(conn, kind, ids) for kind, ids in by_kind.items()}
        for activity in activities:
            kind, _, pid = activity.source_record.partition(":")
            of_record = writes.get(kind, {}).get(int(pid)) if pid.isdigit() else None
            if of_record and (action := echo_of(activity, of_record)):
                activity.attributes = {**activity.attributes, MARK: action}
