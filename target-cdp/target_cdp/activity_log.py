"""Recording derived activities: definitions, retention, the summary, and the purge.

Every activity is counted in ``activity_summary`` exactly once: when it is derived (derivation
only happens on a real change of the stored record, see ``activities.py``), unless its key is
already stored or it records the CDP's own write-back (``writeback.py``: stored, marked, never
counted). Outside its retention window an activity is counted but not stored.

An activity whose Pipedrive person is not in the CDP has no person to be counted under. Within
a run it is held in ``activities`` whatever its age, since the person may still arrive in a
later batch (records come in any order), and counted when the person arrives. At the end of the
run every stream is written, so a person still missing did not come (deleted in Pipedrive,
filtered out by a stream map, stream not selected): the purge then treats held activities like
any other. One outside its window is deleted uncounted; one inside stays held, and is counted if
its person arrives in a later run before it ages out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.activities import Activity
from target_cdp.registry import STREAM_OF_KIND
from target_cdp.settings import Settings
from target_cdp.tables import CDPTables
from target_cdp.writeback import MARK


def stream_of(activity_type: str) -> str:
    """The stream an activity type comes from (``_other`` for other sources' types)."""
    parts = activity_type.split(".")
    if len(parts) == 3 and parts[0] == "pipedrive":  # noqa: PLR2004
        return STREAM_OF_KIND.get(parts[1], "_other")
    return "_other"


class ActivityLog:
    """Writes activities for one run; holds the activity definitions in memory."""

    def __init__(self, tables: CDPTables, settings: Settings, now: dt.datetime) -> None:
        self.tables = tables
        self.settings = settings
        self.now = now
        self._versions: dict[str, dict[tuple[str, ...], int]] = defaultdict(dict)

    def load_definitions(self, conn: sa.Connection) -> None:
        """Read the known attribute sets and their versions."""
        d = self.tables.activity_definitions
        for activity_type, version, names in conn.execute(
            sa.select(d.c.activity_type, d.c.definition_version, d.c.attribute_names)
        ):
            self._versions[activity_type][tuple(names or ())] = version

    def _version(self, activity_type: str, names: Iterable[str]) -> int:
        known = self._versions[activity_type]
        key = tuple(sorted(names))
        if key not in known:
            known[key] = max(known.values(), default=0) + 1
        return known[key]

    def cutoff(self, activity_type: str) -> dt.datetime | None:
        """Activities of this type older than this are not kept (None = kept forever)."""
        days = self.settings.retention_days(activity_type)
        return None if days is None else self.now - dt.timedelta(days=days)

    def record(
        self,
        conn: sa.Connection,
        activities: list[Activity],
        attribute_names: dict[str, list[str]],
    ) -> dict[str, int]:
        """Store and count new activities; return how many were recorded per stream."""
        fresh: dict[str, Activity] = {}
        for activity in activities:
            if self.settings.activity_type_enabled(activity.activity_type):
                fresh.setdefault(activity.key, activity)
        if not fresh:
            return {}
        a = self.tables.activities
        for (key,) in conn.execute(
            sa.select(a.c.activity_key).where(bulk.among(a.c.activity_key, fresh))
        ):
            del fresh[key]
        rows, counted = [], []
        first_seen: dict[tuple[str, int], dt.datetime] = {}
        per_stream: dict[str, int] = defaultdict(int)
        #: Definition version, retention cutoff and stream of each activity type of the stream.
        of_type: dict[str, tuple[int, dt.datetime | None, str]] = {}
        for activity in fresh.values():
            kind = activity.activity_type
            known = of_type.get(kind)
            if known is None:
                names = attribute_names.get(kind)
                version = self._version(
                    kind, sorted(activity.attributes) if names is None else names
                )
                known = (version, self.cutoff(kind), stream_of(kind))
                if names is not None:  # else the definition is the activity's own attributes
                    of_type[kind] = known
            version, cutoff, stream = known
            slot = (kind, version)
            seen = first_seen.get(slot)
            if seen is None or activity.occurred_at < seen:
                first_seen[slot] = activity.occurred_at
            per_stream[stream] += 1
            pending = activity.person_id is None and activity.person_ref is not None
            if pending or cutoff is None or activity.occurred_at >= cutoff:
                rows.append(self._row(activity, version))
            # The CDP's own write-backs coming back are not the person's activity (writeback.py).
            if not pending and MARK not in activity.attributes:
                counted.append(activity)
        bulk.upsert(conn, a, rows, update=False)
        self._summarize(conn, ((x.person_id, x.activity_type, x.occurred_at) for x in counted))
        self._define(conn, first_seen, attribute_names)
        return dict(per_stream)

    @staticmethod
    def _row(activity: Activity, version: int) -> dict[str, Any]:
        return {
            "activity_key": activity.key,
            "activity_type": activity.activity_type,
            "person_id": activity.person_id,
            "organization_id": activity.organization_id,
            "deal_id": activity.deal_id,
            "occurred_at": activity.occurred_at,
            "attributes": activity.attributes,
            "definition_version": version,
            "source": "pipedrive",
            "source_record": activity.source_record,
            "pipedrive_person_id": activity.person_ref,
            "pipedrive_org_id": activity.org_ref,
            "pipedrive_deal_id": activity.deal_ref,
        }

    def _summarize(
        self, conn: sa.Connection, items: Iterable[tuple[str | None, str, dt.datetime]]
    ) -> None:
        totals: dict[tuple[str, str], list[Any]] = {}
        for person_id, activity_type, when in items:
            if person_id is None:
                continue
            slot = totals.get((person_id, activity_type))
            if slot is None:
                totals[person_id, activity_type] = [when, when, 1]
                continue
            if when < slot[0]:
                slot[0] = when
            elif when > slot[1]:
                slot[1] = when
            slot[2] += 1
        if not totals:
            return
        bulk.upsert(
            conn,
            self.tables.activity_summary,
            [
                {"person_id": p, "activity_type": t, "first_at": f, "last_at": la, "count": n}
                for (p, t), (f, la, n) in totals.items()
            ],
            update=lambda stored, new: {
                "first_at": sa.func.least(stored.first_at, new.first_at),
                "last_at": sa.func.greatest(stored.last_at, new.last_at),
                "count": stored["count"] + new["count"],
            },
        )

    def _define(
        self,
        conn: sa.Connection,
        first_seen: dict[tuple[str, int], dt.datetime],
        attribute_names: dict[str, list[str]],
    ) -> None:
        names_of = {
            (activity_type, version): list(names)
            for activity_type, versions in self._versions.items()
            for names, version in versions.items()
        }
        rows = [
            {
                "activity_type": activity_type,
                "definition_version": version,
                "attribute_names": names_of.get(
                    (activity_type, version), attribute_names.get(activity_type, [])
                ),
                "first_seen_at": when,
            }
            for (activity_type, version), when in sorted(first_seen.items())
        ]
        bulk.upsert(
            conn,
            self.tables.activity_definitions,
            rows,
            update=lambda stored, new: {
                "first_seen_at": sa.func.least(stored.first_seen_at, new.first_seen_at)
            },
        )

    def resolve_people(self, conn: sa.Connection, person_ids: dict[int, str]) -> None:
        """Give held activities of these Pipedrive persons their CDP person, and count them."""
        if not person_ids:
            return
        a = self.tables.activities
        resolved = conn.execute(
            sa.select(a.c.activity_key, a.c.activity_type, a.c.occurred_at, a.c.pipedrive_person_id)
            .where(a.c.person_id.is_(None), bulk.among(a.c.pipedrive_person_id, person_ids))
            .order_by(a.c.activity_key)
        ).all()
        if not resolved:
            return
        updates = [{"activity_key": k, "person_id": person_ids[p]} for k, _, _, p in resolved]
        bulk.update(conn, a, updates)
        self._summarize(conn, ((person_ids[p], t, when) for _, t, when, p in resolved))

    def purge(self, conn: sa.Connection) -> dict[str, int]:
        """Delete stored activities outside their retention window; return counts per stream.

        Run at the end of a run, when every stream is written: activities still waiting for
        their person are purged too (see the module docstring).
        """
        a = self.tables.activities
        purged: dict[str, int] = defaultdict(int)
        types = conn.execute(sa.select(a.c.activity_type).distinct()).scalars().all()
        for activity_type in sorted(types):
            cutoff = self.cutoff(activity_type)
            if cutoff is None:
                continue
            where = sa.and_(a.c.activity_type == activity_type, a.c.occurred_at < cutoff)
            count = conn.execute(sa.select(sa.func.count()).where(where)).scalar_one()
            if count:
                conn.execute(sa.delete(a).where(where))
                purged[stream_of(activity_type)] += count
        return dict(purged)
