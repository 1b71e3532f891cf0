"""Pipedrive notes and Pipedrive activities (calls, meetings...): no table of their own.

What they become is derived activities (``activities.py``) and associations.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from target_cdp.activities import Activity, derived_from_note, derived_from_pipedrive_activity
from target_cdp.sinks.objects import Outcome, PipedriveObjectSink
from target_cdp.snapshots import Change


class EngagementSink(PipedriveObjectSink):
    """A stream whose records become activities and associations of people, orgs and deals."""

    derive: Callable[..., list[Activity]]

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:  # noqa: ARG002
        """Derive activities; the linked records' associations are recomputed."""
        out = Outcome()
        for change in changes:
            out.counts["updated" if change.old is not None else "inserted"] += 1
            out.counts["deleted"] += change.deleted
            out.stored.add(change.pipedrive_id)
            out.activities += type(self).derive(change.old, change.new, deleted=change.deleted)
            out.to_ids[change.pipedrive_id] = str(change.pipedrive_id)
        return out


class NotesSink(EngagementSink):
    """The ``notes`` stream."""

    derive = staticmethod(derived_from_note)


class PipedriveActivitiesSink(EngagementSink):
    """The ``activities`` stream: Pipedrive's activity objects (calls, meetings, tasks...).

    Not the CDP's activities: those are derived from every stream (``activities.py``).
    """

    derive = staticmethod(derived_from_pipedrive_activity)
