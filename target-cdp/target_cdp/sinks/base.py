"""Base sinks: Singer records in, one transaction per batch, rejections kept.

``CDPSink`` turns the SDK's per-record checks into rejections (a bad record goes to
``rejected_records`` and the run goes on) and keeps each record's table ``version``.
``PipedriveObjectSink`` adds the snapshot logic shared by every Pipedrive object stream:
compare with ``pipedrive_records``, skip out-of-order and unchanged records, derive
activities, recompute associations, retire records on ACTIVATE_VERSION.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_cdp import bulk, registry, sdk_private, storable
from target_cdp.activities import Activity, activity_types_of, attribute_names, is_deleted
from target_cdp.links import ChildLinks
from target_cdp.records import canonical, parse_time, time_text, version_time
from target_cdp.storable import shown
from target_cdp.unknown_fields import with_known_values
from target_cdp.validation import FastJSONSchemaValidator

if TYPE_CHECKING:
    from collections.abc import Iterable

    from target_cdp.run import Run
    from target_cdp.target import TargetCDP

REJECTION = "__target_cdp_rejection__"
SIZE = "__target_cdp_size__"
VERSION = "_sdc_table_version"
#: Pipedrive deal times that have columns of their own in ``deals``.
DEAL_TIMES = ("add_time", "update_time", "stage_change_time", "won_time", "lost_time", "close_time")
#: Timestamp fields checked on every Pipedrive object record.
TIME_FIELDS = (*DEAL_TIMES, "archive_time", "marked_as_done_time")
#: Fields holding the id of another Pipedrive object (or of a user, pipeline, stage). API v1
#: sends some as objects (``{"value": 5, "name": "Acme"}``): ``check`` unwraps them to the id.
REFERENCE_FIELDS = (
    "org_id",
    "person_id",
    "deal_id",
    "user_id",
    "owner_id",
    "creator_user_id",
    "pipeline_id",
    "stage_id",
)
MAX_NUMERIC = 10**31
RETIRE_CHUNK = 5000

Counts = dict[str, Counter[str]]


@dataclass
class Incoming:
    """A record of the batch, as received."""

    record: dict
    version: int | None
    rejection: str | None


@dataclass
class Change:
    """A Pipedrive object whose stored record changes in this batch."""

    pipedrive_id: int
    old: dict | None
    new: dict
    raw: dict
    version: int | None
    deleted: bool
    deleted_at: dt.datetime | None
    update_time: dt.datetime | None


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


class CDPSink(BatchSink):
    """A sink writing one stream into the CDP."""

    def __init__(
        self, target: TargetCDP, stream_name: str, schema: dict, key_properties: Any
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        #: What the sink reports to and writes with (settings, database, tables, counts): the
        #: run, not the target.
        self.run: Run = target.cdp_run()

    # -- SDK hooks: keep the table version, reject instead of failing ---------------------

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A compiled validator (``validate_records: false`` turns validation off)."""
        return FastJSONSchemaValidator(self.schema) if self.validate_schema else None

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Always on, so that each RECORD's table ``version`` reaches the sink."""
        return True

    def _add_sdc_metadata_to_schema(self) -> None:
        self.schema["properties"][VERSION] = {"type": ["null", "integer"]}

    def _add_sdc_metadata_to_record(self, record: dict, message: dict, context: dict) -> None:  # noqa: ARG002
        record[VERSION] = message.get("version")

    def _validate_and_parse(self, record: dict) -> dict:
        # Timestamps stay RFC 3339 strings (parsed where used). A value no database can hold
        # (checked whatever the SCHEMA says) and a schema failure are rejections.
        size = storable.json_size(record)
        reason = storable.problem(record, size)
        if reason is None and self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                reason = f"does not match the stream schema: {exc.error_message}"
        if reason is not None:
            record[REJECTION] = reason
        record[SIZE] = size or 0  # counted towards the batch's bytes (``is_full``)
        return record

    def _singer_validate_message(self, record: dict) -> None:
        missing = [k for k in self.key_properties if k not in record]
        if missing and REJECTION not in record:
            record[REJECTION] = f"missing key properties {missing}"

    def process_record(self, record: dict, context: dict) -> None:
        """Buffer the record with its version and any rejection reason."""
        version = record.pop(VERSION, None)
        rejection = record.pop(REJECTION, None)
        size = record.pop(SIZE, 0)
        if version is not None:
            self.run.versions_received[self.stream_name].add(version)
        context.setdefault("records", []).append(Incoming(record, version, rejection))
        context["bytes"] = context.get("bytes", 0) + size

    @property
    def is_full(self) -> bool:
        """Full at ``batch_size_rows`` records, or at ``storable.MAX_BATCH_BYTES`` of JSON."""
        pending = sdk_private.pending_batch(self)
        return super().is_full or pending.get("bytes", 0) >= storable.MAX_BATCH_BYTES

    def process_batch(self, context: dict) -> None:
        """Write the batch in one transaction; count it only once committed."""
        counts: Counts = defaultdict(Counter)
        with self.run.db.transaction(f"writing a batch of stream '{self.stream_name}'") as conn:
            self.write(conn, context.get("records", []), counts)
        self.run.add(counts)

    def write(self, conn: sa.Connection, items: list[Incoming], counts: Counts) -> None:
        """Write a batch (inside the transaction)."""
        raise NotImplementedError

    def reject(
        self, conn: sa.Connection, rejected: list[tuple[Incoming, str]], counts: Counts
    ) -> None:
        """Store rejected records (each distinct raw record once, in a form any database holds)."""
        rows: dict[str, dict] = {}
        for item, reason in rejected:
            raw = storable.escaped(item.record)
            text = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
            key = hashlib.sha256(self.stream_name.encode() + b"\n" + text).hexdigest()
            record_key = raw.get(self.key_properties[0]) if self.key_properties else None
            rows[key] = {
                "rejection_key": key,
                "stream": self.stream_name,
                "record_key": None if record_key is None else str(record_key),
                "reason": reason,
                "raw_record": raw,
                "first_run_id": self.run.run_id,
            }
        bulk.upsert(conn, self.run.tables.rejected_records, list(rows.values()), update=False)
        counts[self.stream_name]["rejected"] += len(rejected)


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
        #: Which record field holds each reference kept in ``pipedrive_records``.
        self.references: dict[str, str] = registry.snapshot_references(stream)
        super().__init__(target, stream_name, schema, key_properties)

    def setup(self) -> None:
        """Work out the attribute set (definition) of every activity type this SCHEMA yields."""
        super().setup()
        self.attribute_names = {
            t: attribute_names(t, self.schema) for t in activity_types_of(self.kind)
        }

    def check(self, record: dict) -> str | None:
        """Why the record breaks the rules (None when it does not).

        A stream SCHEMA may leave types open, so references and ``custom_fields`` are checked
        here. A reference in the API v1 shape (an object with the id as ``value``) is replaced
        by its id when the record passes; any other reference that is not an integer or null
        (a string too: Pipedrive ids are integers, and no guess is made) rejects the record.
        """
        pid = record.get("id")
        if not _is_id(pid):
            return f"id must be an integer, got {shown(pid)}"
        reason = _time_problem(record) or check_types(record, self.column_types)
        if reason:
            return reason
        unwrapped: dict[str, int | None] = {}
        for name in REFERENCE_FIELDS:
            value = record.get(name)
            if value is None or type(value) is int:  # the usual case, checked first
                continue
            if isinstance(value, dict) and "value" in value:
                value = unwrapped[name] = value["value"]
            if value is not None and not _is_id(value):
                return f"{name} must be an integer id or null, got {_kind(value)}: {shown(value)}"
        custom = record.get("custom_fields")
        if custom is not None and not isinstance(custom, dict):
            return f"custom_fields must be an object or null, got {_kind(custom)}: {shown(custom)}"
        record.update(unwrapped)
        return None

    @staticmethod
    def check_number(record: dict, name: str) -> str | None:
        """Reject numbers the CDP's numeric columns cannot hold (the type is checked first)."""
        value = record.get(name)
        if value is not None and abs(value) >= MAX_NUMERIC:
            return f"{name} is out of range: {shown(value)}"
        return None

    @staticmethod
    def snapshot_key(record: dict) -> int:
        """The object's key in ``pipedrive_records``: its Pipedrive id (leads: their own)."""
        return record["id"]

    def write(self, conn: sa.Connection, items: list[Incoming], counts: Counts) -> None:
        """Compare the batch with the stored records and apply what changed."""
        rejected: list[tuple[Incoming, str]] = []
        latest: dict[int, tuple[Incoming, dict, dt.datetime | None]] = {}
        for item in items:
            reason = item.rejection or self.check(item.record)
            if reason:
                rejected.append((item, reason))
                continue
            pid = self.snapshot_key(item.record)
            update_time = parse_time(item.record.get("update_time"))
            try:
                new = canonical(item.record)
            except TypeError as exc:
                rejected.append((item, f"cannot be stored as JSON: {exc}"))
                continue
            previous = latest.get(pid)
            if previous is not None:
                counts[self.stream_name]["unchanged"] += 1  # an older copy in the same batch
                if _older(update_time, previous[2]):
                    continue
            latest[pid] = (item, new, update_time)
        self.reject(conn, rejected, counts)
        stored = self.load_snapshots(conn, latest)
        changes: list[Change] = []
        versions: list[dict] = []
        for pid, (item, incoming, update_time) in latest.items():
            old = stored.get(pid)
            new = with_known_values(incoming, None if old is None else old["record"])
            if old is not None and (
                _older(update_time, old["update_time"]) or new == old["record"]
            ):
                counts[self.stream_name]["unchanged" if new == old["record"] else "skipped"] += 1
                if item.version is not None and item.version != old["table_version"]:
                    versions.append(
                        {
                            "stream": self.stream_name,
                            "pipedrive_id": pid,
                            "table_version": item.version,
                        }
                    )
                continue
            deleted = is_deleted(self.kind, new)
            was_deleted = old is not None and old["is_deleted"]
            changes.append(
                Change(
                    pipedrive_id=pid,
                    old=None if old is None else old["record"],
                    new=new,
                    raw=item.record,
                    version=item.version
                    if item.version is not None
                    else (old or {}).get("table_version"),
                    deleted=deleted,
                    deleted_at=update_time if deleted and not was_deleted else None,
                    update_time=update_time,
                )
            )
        bulk.update(conn, self.run.tables.pipedrive_records, versions)
        self.apply_changes(conn, changes, counts)

    def apply_changes(self, conn: sa.Connection, changes: list[Change], counts: Counts) -> None:
        """Apply changed records: CDP rows, snapshots, activities, associations."""
        if not changes:
            return
        outcome = self.apply(conn, changes)
        counts[self.stream_name].update(outcome.counts)
        self.run.writebacks.mark(conn, outcome.activities)
        self.store_snapshots(conn, [c for c in changes if c.pipedrive_id in outcome.stored])
        children = [
            ChildLinks(
                to_id=outcome.to_ids[c.pipedrive_id],
                at=c.update_time,
                old=self._refs(c.old) if c.old and not is_deleted(self.kind, c.old) else {},
                new=self._refs(c.new) if not c.deleted else {},
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

    def _refs(self, record: dict) -> dict[str, int | None]:
        return {name: _ref(record, field) for name, field in self.references.items()}

    def apply(self, conn: sa.Connection, changes: list[Change]) -> Outcome:
        """Write the CDP rows of changed records (kind-specific)."""
        raise NotImplementedError

    def load_snapshots(self, conn: sa.Connection, ids: Iterable[int]) -> dict[int, dict]:
        """The stored record of each of these Pipedrive objects."""
        r = self.run.tables.pipedrive_records
        found: dict[int, dict] = {}
        rows = conn.execute(
            sa.select(
                r.c.pipedrive_id, r.c.update_time, r.c.table_version, r.c.is_deleted, r.c.record
            ).where(r.c.stream == self.stream_name, bulk.among(r.c.pipedrive_id, ids))
        ).mappings()
        found.update({row["pipedrive_id"]: dict(row) for row in rows})
        return found

    def store_snapshots(self, conn: sa.Connection, changes: list[Change]) -> None:
        """Remember the records just applied."""
        refs = self.references
        bulk.upsert(
            conn,
            self.run.tables.pipedrive_records,
            [
                {
                    "stream": self.stream_name,
                    "pipedrive_id": c.pipedrive_id,
                    "update_time": c.update_time,
                    "table_version": c.version,
                    "is_deleted": c.deleted,
                    "record": c.new,
                    "person_ref": _ref(c.new, refs.get("person_ref")),
                    "org_ref": _ref(c.new, refs.get("org_ref")),
                    "deal_ref": _ref(c.new, refs.get("deal_ref")),
                }
                for c in changes
            ],
        )

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
        r = self.run.tables.pipedrive_records
        when = version_time(new_version)
        retired = 0
        after: int | None = None
        while True:
            counts: Counts = defaultdict(Counter)
            with self.run.db.transaction(
                f"retiring records of stream '{self.stream_name}'"
            ) as conn:
                rows = (
                    conn.execute(
                        sa.select(r.c.pipedrive_id, r.c.update_time, r.c.table_version, r.c.record)
                        .where(
                            r.c.stream == self.stream_name,
                            r.c.is_deleted.is_(False),
                            sa.or_(r.c.table_version.is_(None), r.c.table_version < new_version),
                            sa.true() if after is None else r.c.pipedrive_id > after,
                        )
                        .order_by(r.c.pipedrive_id)
                        .limit(RETIRE_CHUNK)
                    )
                    .mappings()
                    .all()
                )
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


def _older(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    return a is not None and b is not None and a < b


def stored_deleted_at(conn: sa.Connection, table: sa.Table, id_column: str, row_id: str) -> object:
    """The deletion time a row holds: an object seen deleted again keeps its first one."""
    column = table.c[id_column]
    return conn.execute(sa.select(table.c.deleted_at).where(column == row_id)).scalar()


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _time_problem(record: dict) -> str | None:
    for name in TIME_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        try:
            parse_time(value)
        except OverflowError:
            return f"{name} is out of range once in UTC (years 1 to 9999): {shown(value)}"
        except (TypeError, ValueError):
            return f"{name} is not an RFC 3339 timestamp: {shown(value)}"
    return None


#: Python types of the JSON types a typed column takes (booleans are not numbers).
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, decimal.Decimal),
    "boolean": (bool,),
}


def column_json_types(table: sa.Table, names: Iterable[str]) -> dict[str, str]:
    """The JSON type each of these columns takes (JSON columns take anything)."""
    types = {}
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, sa.Boolean):
            types[name] = "boolean"
        elif isinstance(column_type, sa.Integer):
            types[name] = "integer"
        elif isinstance(column_type, sa.String):
            types[name] = "string"
    return types


def check_types(record: dict, types: dict[str, str]) -> str | None:
    """Why a field bound for a typed column has another type (None when all fit).

    The SCHEMA may leave them open; a database would refuse the value and fail the batch, or
    cast it silently (``true`` or ``"1_000"`` as a number). Null is always allowed.
    """
    for name, json_type in types.items():
        value = record.get(name)
        if value is None:
            continue
        fits = isinstance(value, JSON_TYPES[json_type])
        if fits and json_type != "boolean" and isinstance(value, bool):
            fits = False
        if not fits:
            article = "an" if json_type == "integer" else "a"
            return (
                f"{name} must be {article} {json_type} or null, got {_kind(value)}: {shown(value)}"
            )
    return None


def _kind(value: Any) -> str:
    """The JSON type name of a value, for rejection reasons."""
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        decimal.Decimal: "number",
        str: "string",
        list: "array",
    }
    return "object" if isinstance(value, dict) else names.get(type(value), type(value).__name__)


def _ref(record: dict, name: str | None) -> int | None:
    value = record.get(name) if name else None
    return value if _is_id(value) else None
