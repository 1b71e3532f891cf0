"""The sink of every Pipedrive object stream: a batch compared, applied, linked, logged.

``PipedriveObjectSink.write`` runs a batch in this order, inside its transaction:

1. check each record (``checks.py``) and keep the newest copy of each object;
2. compare with the stored snapshots (``snapshots.py``): only real changes go on;
3. ``apply`` (each kind's sink: persons, organizations, deals, leads, notes, activities) writes
   the CDP rows and derives the activities;
4. store the snapshots of what was applied;
5. resolve the CDP ids the activities and links name, record the activities
   (``activity_log.py``), and update the associations (``links.py``).

ACTIVATE_VERSION goes through the same steps with tombstones of the objects a reconciliation
pass did not see.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from target_cdp import registry, snapshots
from target_cdp.activities import Activity, activity_types_of, attribute_names, is_deleted
from target_cdp.checks import object_problem
from target_cdp.links import ChildLinks
from target_cdp.records import time_text, version_time
from target_cdp.sinks.base import CDPSink, Counts, Incoming
from target_cdp.snapshots import Change, PipedriveRecords
from target_cdp.unknown_fields import with_known_values

if TYPE_CHECKING:
    from target_cdp.target import TargetCDP

#: Objects retired per transaction by ACTIVATE_VERSION.
RETIRE_CHUNK = 5000


@dataclass
class Outcome:
    """What a kind-specific ``apply`` did."""

    stored: set[int] = field(default_factory=set)
    activities: list[Activity] = field(default_factory=list)
    #: Pipedrive ids, by kind, whose associations are rebuilt from ``pipedrive_records``.
    rebuild_associations: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    counts: Counter[str] = field(default_factory=Counter)
    #: CDP id (or Pipedrive id for notes and activities) of each stored change, as linked record.
    to_ids: dict[int, str] = field(default_factory=dict)


class PipedriveObjectSink(CDPSink):
    """A stream of Pipedrive objects keyed by ``id`` with an ``update_time``.

    Its kind and references are the stream's row in ``registry.STREAMS``.
    """

    #: Record fields written to a typed column of their own, and the JSON type it takes.
    column_types: ClassVar[dict[str, str]] = {}

    def __init__(
        self, target: TargetCDP, stream_name: str, schema: dict, key_properties: Any
    ) -> None:
        stream = registry.BY_NAME[stream_name]
        #: The Pipedrive object a record is (``person``).
        self.kind: str = str(stream.kind)
        super().__init__(target, stream_name, schema, key_properties)
        #: This stream's snapshots in ``pipedrive_records``.
        self.snapshots = PipedriveRecords(
            self.run.tables.pipedrive_records,
            stream_name,
            registry.snapshot_references(stream),
        )

    def setup(self) -> None:
        """Work out the attribute set (definition) of every activity type this SCHEMA yields."""
        super().setup()
        self.attribute_names = {
            t: attribute_names(t, self.schema) for t in activity_types_of(self.kind)
        }

    def check(self, record: dict) -> str | None:
        """Why the record cannot be stored (``checks.object_problem``; None when it can)."""
        return object_problem(record, self.column_types)

    @staticmethod
    def snapshot_key(record: dict) -> int:
        """The object's key in ``pipedrive_records``: its Pipedrive id (leads: their own)."""
        return record["id"]

    def write(self, conn: sa.Connection, items: list[Incoming], counts: Counts) -> None:
        """Compare the batch with the stored snapshots and apply what changed."""
        rejected, latest = snapshots.newest(
            items, self.check, self.snapshot_key, counts[self.stream_name]
        )
        self.reject(conn, rejected, counts)
        stored = self.snapshots.load(conn, latest)
        changes: list[Change] = []
        versions: dict[int, int] = {}
        for pid, copy in latest.items():
            old = stored.get(pid)
            stored_record = None if old is None else old["record"]
            new = with_known_values(copy.record, stored_record)
            verdict = snapshots.verdict(
                stored_record, new, old and old["update_time"], copy.update_time
            )
            if verdict in ("unchanged", "skipped"):
                counts[self.stream_name][verdict] += 1
                if copy.item.version is not None and copy.item.version != old["table_version"]:
                    versions[pid] = copy.item.version
                continue
            deleted = is_deleted(self.kind, new)
            was_deleted = old is not None and old["is_deleted"]
            changes.append(
                Change(
                    pipedrive_id=pid,
                    old=stored_record,
                    new=new,
                    raw=copy.item.record,
                    version=copy.item.version
                    if copy.item.version is not None
                    else (old or {}).get("table_version"),
                    deleted=deleted,
                    deleted_at=copy.update_time if deleted and not was_deleted else None,
                    update_time=copy.update_time,
                )
            )
        self.snapshots.move_versions(conn, versions)
        self.apply_changes(conn, changes, counts)

    def apply_changes(self, conn: sa.Connection, changes: list[Change], counts: Counts) -> None:
        """Apply changed records: CDP rows, snapshots, activities, associations."""
        if not changes:
            return
        outcome = self.apply(conn, changes)
        counts[self.stream_name].update(outcome.counts)
        self.run.writebacks.mark(conn, outcome.activities)
        self.snapshots.store(conn, [c for c in changes if c.pipedrive_id in outcome.stored])
        references_of = self.snapshots.references_of
        children = [
            ChildLinks(
                to_id=outcome.to_ids[c.pipedrive_id],
                at=c.update_time,
                old=references_of(c.old) if c.old and not is_deleted(self.kind, c.old) else {},
                new=references_of(c.new) if not c.deleted else {},
            )
            for c in changes
            if c.pipedrive_id in outcome.to_ids
        ]
        parents = self.linked(conn, outcome.activities, children)
        resolve(outcome.activities, parents)
        for stream, n in self.run.activity_log.record(
            conn, outcome.activities, self.attribute_names
        ).items():
            counts[stream]["activities"] += n
        cut = self.run.links.update_children(conn, self.stream_name, children, parents)
        for kind, ids in sorted(outcome.rebuild_associations.items()):
            cut += self.run.links.recompute(conn, kind, ids)
        counts[self.stream_name]["associations_cut"] += cut

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Write the CDP rows of changed records (kind-specific)."""
        raise NotImplementedError

    def linked(
        self, conn: sa.Connection, activities: list[Activity], children: list[ChildLinks]
    ) -> dict[str, dict[int, str]]:
        """CDP ids of the people, organizations and deals the batch's activities and links
        name, by kind: one query per kind for both."""
        refs = self.run.links.parent_refs(self.stream_name, children)
        for kind, name in (
            ("person", "person_ref"),
            ("organization", "org_ref"),
            ("deal", "deal_ref"),
        ):
            refs.setdefault(kind, set()).update(getattr(a, name) for a in activities)
        return {kind: self.run.links.cdp_ids(conn, kind, ids) for kind, ids in refs.items()}

    def activate_version(self, new_version: int) -> None:
        """Mark deleted every object last seen with an older (or no) table version.

        Chunks of ``RETIRE_CHUNK`` objects, one transaction each, in ``pipedrive_id`` order:
        each chunk starts after the last id of the previous one, so the pass ends even when a
        sink stores nothing for some objects (a person no CDP person links any more, under
        ``create_new_people: false``): those are not selected again.
        """
        when = version_time(new_version)
        retired = 0
        after: int | None = None
        while True:
            counts: Counts = defaultdict(Counter)
            with self.run.db.transaction(
                f"retiring records of stream '{self.stream_name}'"
            ) as conn:
                rows = self.snapshots.not_seen_since(conn, new_version, after, RETIRE_CHUNK)
                self.apply_changes(conn, [self.tombstone(row, when) for row in rows], counts)
            self.run.add(counts)
            retired += len(rows)
            if len(rows) < RETIRE_CHUNK:
                break
            after = rows[-1]["pipedrive_id"]
        self.logger.info(
            "ACTIVATE_VERSION %s retired %d '%s' records", new_version, retired, self.stream_name
        )

    def tombstone(self, row: Any, when: dt.datetime | None) -> Change:
        """The change that marks a stored object deleted upstream (at the version's time)."""
        new = dict(row["record"])
        new["is_deleted"] = True
        if self.kind == "note":
            new["active_flag"] = False
        update_time = row["update_time"]
        if when is not None and (update_time is None or when > update_time):
            update_time = when
            new["update_time"] = time_text(when)
        return Change(
            pipedrive_id=row["pipedrive_id"],
            old=row["record"],
            new=new,
            raw=new,
            version=row["table_version"],
            deleted=True,
            deleted_at=update_time,
            update_time=update_time,
        )


def resolve(activities: list[Activity], parents: dict[str, dict[int, str]]) -> None:
    """Fill in the CDP ids each activity concerns (``parents``: from ``linked``)."""
    people, orgs, deals = (parents[kind] for kind in ("person", "organization", "deal"))
    for activity in activities:
        activity.person_id = people.get(activity.person_ref)
        activity.organization_id = orgs.get(activity.org_ref)
        activity.deal_id = deals.get(activity.deal_ref)


def stored_deleted_at(conn: sa.Connection, table: sa.Table, id_column: str, row_id: str) -> object:
    """The deletion time a row holds: an object seen deleted again keeps its first one."""
    column = table.c[id_column]
    return conn.execute(sa.select(table.c.deleted_at).where(column == row_id)).scalar()
