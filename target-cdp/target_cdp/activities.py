"""Activities derived from what changed between the stored and the incoming Pipedrive record.

Words: *activities* are the CDP's events (``pipedrive.deal.won``), derived here from every
stream; Pipedrive's own activity objects (calls, meetings, tasks: stream ``activities``, kind
``activity``) are always *Pipedrive activities* in code. ``derived_from_<kind>`` gives the
activities of one record of that kind.

Pure functions: given the last record the CDP saw of an object (None on first sight) and the
incoming one, return the activities that happened. Keys are deterministic, so deriving twice
from the same data gives the same keys; replaying the same record derives nothing because the
stored record is then identical to the incoming one.

A field is compared by its path of keys (``("custom_fields", "tier")``), as ``merge.py``
addresses attributes: Pipedrive keys may contain ``.``, so the top-level key
``custom_fields.tier`` and the custom field ``tier`` are two fields. Only the stored names
are text (``field_name``): keys joined with ``.``, a key holding ``.`` or ``"`` written as a
JSON string (``"custom_fields.tier"``, ``custom_fields."utm.source"``), so every name reads as
one path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from target_cdp.merges import survivor_of
from target_cdp.records import dumps, parse_time, time_text
from target_cdp.registry import INACTIVE_MEANS_DELETED
from target_cdp.unknown_fields import UNKNOWN_FIELDS

#: Attributes each activity type carries (intersected with the stream's SCHEMA; custom fields
#: are added for the types in ``CUSTOM_FIELD_TYPES``). ``*.updated`` types carry the changes of
#: every field of the SCHEMA instead.
CORE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "pipedrive.person.created": (
        "name",
        "emails",
        "phones",
        "owner_id",
        "org_id",
        "marketing_status",
        "label_ids",
    ),
    "pipedrive.person.merged": (),
    "pipedrive.organization.created": ("name", "owner_id", "address"),
    "pipedrive.organization.merged": (),
    "pipedrive.deal.created": (
        "title",
        "value",
        "currency",
        "pipeline_id",
        "stage_id",
        "status",
        "owner_id",
    ),
    "pipedrive.deal.stage_changed": ("pipeline_id", "stage_id"),
    "pipedrive.deal.won": ("value", "currency", "won_time", "pipeline_id", "stage_id"),
    "pipedrive.deal.lost": ("value", "currency", "lost_time", "lost_reason"),
    "pipedrive.deal.deleted": ("title", "status", "value", "currency"),
    "pipedrive.note.added": ("content", "user_id", "deal_id", "person_id", "org_id", "lead_id"),
    "pipedrive.activity.created": (
        "type",
        "subject",
        "owner_id",
        "due_date",
        "due_time",
        "duration",
        "done",
    ),
    "pipedrive.activity.completed": ("type", "subject", "owner_id", "marked_as_done_time"),
    "pipedrive.lead.created": ("title", "value", "source_name", "owner_id", "label_ids"),
    "pipedrive.lead.converted": (),
}
CUSTOM_FIELD_TYPES = frozenset(
    {
        "pipedrive.person.created",
        "pipedrive.organization.created",
        "pipedrive.deal.created",
        "pipedrive.lead.created",
    }
)
UPDATED_TYPES = frozenset({"pipedrive.person.updated", "pipedrive.deal.updated"})
#: Extra attributes the target itself adds to an activity type.
DERIVED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "pipedrive.deal.stage_changed": ("from_stage_id",),
    "pipedrive.person.merged": ("merged_from_id", "merged_to_id"),
    "pipedrive.organization.merged": ("merged_from_id", "merged_to_id"),
    "pipedrive.lead.converted": ("currency", "lead_id", "title", "value"),
}
#: Fields never reported as changes (they change with every edit).
UNTRACKED = frozenset({"id", "update_time", "is_deleted", "active_flag", UNKNOWN_FIELDS})
#: Singer/SDK metadata columns (``_sdc_table_version``, ``_sdc_extracted_at``...): not Pipedrive
#: fields, never tracked nor part of a definition.
SDC_PREFIX = "_sdc_"
NOTE_CONTENT_LIMIT = 1000


@dataclass
class Activity:
    """One derived activity, before the CDP ids it concerns are resolved."""

    key: str
    activity_type: str
    occurred_at: dt.datetime
    attributes: dict[str, Any]
    source_record: str
    person_ref: int | None
    org_ref: int | None
    deal_ref: int | None
    person_id: str | None = field(default=None)
    organization_id: str | None = field(default=None)
    deal_id: str | None = field(default=None)


FieldPath = tuple[str, ...]


def field_name(path: FieldPath) -> str:
    """A field's name in activity attributes: its keys joined with ``.``.

    A key that holds ``.`` or ``"`` (or is empty) is written as a JSON string, so the name of
    the key ``custom_fields.tier`` (``"custom_fields.tier"``) is not that of the custom field
    ``tier`` (``custom_fields.tier``).
    """
    return ".".join(
        json.dumps(key, ensure_ascii=False) if not key or "." in key or '"' in key else key
        for key in path
    )


def custom_field_names(schema: dict) -> list[str]:
    """The name of every custom field the SCHEMA declares (``custom_fields.<name>``)."""
    custom = schema.get("properties", {}).get("custom_fields") or {}
    return [field_name(("custom_fields", name)) for name in sorted(custom.get("properties") or {})]


def tracked_fields(schema: dict) -> list[str]:
    """The fields whose changes ``*.updated`` activities report (custom fields one by one)."""
    names = [field_name((n,)) for n in schema.get("properties", {}) if _tracked(n)]
    return sorted(names + custom_field_names(schema))


def _tracked(name: str) -> bool:
    return name not in UNTRACKED and name != "custom_fields" and not name.startswith(SDC_PREFIX)


def attribute_names(activity_type: str, schema: dict) -> list[str]:
    """The attribute set of ``activity_type`` under this stream SCHEMA (its definition)."""
    if activity_type in UPDATED_TYPES:
        return tracked_fields(schema)
    properties = schema.get("properties", {})
    names = [n for n in CORE_ATTRIBUTES.get(activity_type, ()) if n in properties]
    names += DERIVED_ATTRIBUTES.get(activity_type, ())
    if activity_type in CUSTOM_FIELD_TYPES:
        names += custom_field_names(schema)
    return sorted(names)


def flatten(record: dict) -> dict[FieldPath, Any]:
    """The record's trackable fields by path, custom fields as ``("custom_fields", name)``."""
    flat: dict[FieldPath, Any] = {(k,): v for k, v in record.items() if _tracked(k)}
    for name, value in (record.get("custom_fields") or {}).items():
        flat["custom_fields", name] = value
    return flat


def changes(old: dict, new: dict) -> dict[str, dict[str, Any]]:
    """Fields present in ``new`` whose value differs from ``old``: ``{field name: {old, new}}``."""
    before, after = flatten(old), flatten(new)
    return {
        field_name(path): {"old": before.get(path), "new": value}
        for path, value in sorted(after.items())
        if before.get(path) != value
    }


def _pick(record: dict, activity_type: str) -> dict[str, Any]:
    attributes = {n: record.get(n) for n in CORE_ATTRIBUTES.get(activity_type, ()) if n in record}
    if activity_type in CUSTOM_FIELD_TYPES and record.get("custom_fields"):
        attributes["custom_fields"] = record["custom_fields"]
    return attributes


def is_deleted(stream_kind: str, record: dict) -> bool:
    """Whether a record says its object is deleted (every deletion signal the tap sends).

    ``active_flag: false`` is how API v1 (and singer-io tap-pipedrive) says a person,
    organization or note is deleted; a v1 deleted deal has ``status: deleted``.
    """
    if record.get("is_deleted") is True:
        return True
    if stream_kind == "deal" and record.get("status") == "deleted":
        return True
    return stream_kind in INACTIVE_MEANS_DELETED and record.get("active_flag") is False


class _Builder:
    """Collects the activities of one record, with the references they concern."""

    def __init__(
        self, kind: str, record: dict, refs: tuple[int | None, int | None, int | None]
    ) -> None:
        self.kind = kind
        self.record = record
        self.refs = refs
        self.items: list[Activity] = []

    def add(
        self,
        event: str,
        when: dt.datetime | None,
        attributes: dict[str, Any],
        *,
        key_suffix: str | None = None,
    ) -> None:
        if when is None:
            return
        source = f"{self.kind}:{self.record['id']}"
        key = f"pipedrive:{source}:{event}" + (f":{key_suffix}" if key_suffix else "")
        self.items.append(
            Activity(
                key=key,
                activity_type=f"pipedrive.{self.kind}.{event}",
                occurred_at=when,
                attributes=attributes,
                source_record=source,
                person_ref=self.refs[0],
                org_ref=self.refs[1],
                deal_ref=self.refs[2],
            )
        )


def _time(record: dict, *names: str) -> dt.datetime | None:
    for name in names:
        if value := parse_time(record.get(name)):
            return value
    return None


def _updated(builder: _Builder, old: dict, new: dict) -> None:
    changed = changes(old, new)
    if not changed:
        return
    when = _time(new, "update_time")
    suffix = time_text(when)
    if old.get("update_time") == new.get("update_time"):
        # Two edits within one second share an update_time: keep both, keyed by content.
        suffix = f"{suffix}#{hashlib.sha1(dumps(changed)).hexdigest()[:10]}"  # noqa: S324
    builder.add("updated", when, {"changes": changed}, key_suffix=suffix)


def _merged(kind: str, new: dict, survivor: int) -> list[Activity]:
    """``pipedrive.<kind>.merged``, on the survivor, keyed by both ids (once per merge)."""
    refs = (survivor, None, None) if kind == "person" else (None, survivor, None)
    builder = _Builder(kind, new, refs)
    attributes = {"merged_from_id": new["id"], "merged_to_id": survivor}
    builder.add("merged", _time(new, "update_time"), attributes, key_suffix=str(survivor))
    return builder.items


def derived_from_person(old: dict | None, new: dict, *, deleted: bool) -> list[Activity]:
    """``pipedrive.person.created`` on first sight, ``pipedrive.person.updated`` on changes.

    A record saying the person was merged away gives only ``pipedrive.person.merged``.
    """
    if (survivor := survivor_of(new)) is not None:
        return _merged("person", new, survivor)
    builder = _Builder("person", new, (new["id"], new.get("org_id"), None))
    if old is None:
        if not deleted:
            builder.add(
                "created",
                _time(new, "add_time", "update_time"),
                _pick(new, "pipedrive.person.created"),
            )
    else:
        _updated(builder, old, new)
    return builder.items


def derived_from_organization(old: dict | None, new: dict, *, deleted: bool) -> list[Activity]:
    """``pipedrive.organization.created`` on first sight, ``.merged`` when merged away."""
    if (survivor := survivor_of(new)) is not None:
        return _merged("organization", new, survivor)
    builder = _Builder("organization", new, (None, new["id"], None))
    if old is None and not deleted:
        attributes = _pick(new, "pipedrive.organization.created")
        builder.add("created", _time(new, "add_time", "update_time"), attributes)
    return builder.items


def derived_from_deal(
    old: dict | None, new: dict, *, deleted: bool, deleted_at: dt.datetime | None
) -> list[Activity]:
    """Created, updated, stage changed, won, lost and deleted events of a deal."""
    builder = _Builder("deal", new, (new.get("person_id"), new.get("org_id"), new["id"]))
    was_deleted = old is not None and is_deleted("deal", old)
    if deleted and not was_deleted:
        when = deleted_at or _time(new, "update_time")
        builder.add(
            "deleted", when, _pick(new, "pipedrive.deal.deleted"), key_suffix=time_text(when)
        )
    if old is None and deleted:
        return builder.items
    before = old or {}
    if old is None:
        builder.add(
            "created", _time(new, "add_time", "update_time"), _pick(new, "pipedrive.deal.created")
        )
    else:
        _updated(builder, old, new)
    if new.get("stage_id") is not None and new.get("stage_id") != before.get("stage_id"):
        when = (
            _time(new, "stage_change_time")
            if old is None
            else _time(new, "stage_change_time", "update_time")
        )
        attributes = {
            **_pick(new, "pipedrive.deal.stage_changed"),
            "from_stage_id": before.get("stage_id"),
        }
        builder.add(
            "stage_changed", when, attributes, key_suffix=f"{time_text(when)}:{new['stage_id']}"
        )
    for status in ("won", "lost"):
        if new.get("status") == status and before.get("status") != status:
            when = _time(new, f"{status}_time", "close_time", "update_time")
            builder.add(
                status, when, _pick(new, f"pipedrive.deal.{status}"), key_suffix=time_text(when)
            )
    return builder.items


def derived_from_note(old: dict | None, new: dict, *, deleted: bool) -> list[Activity]:
    """``pipedrive.note.added`` on first sight of a note that is not deleted."""
    builder = _Builder("note", new, (new.get("person_id"), new.get("org_id"), new.get("deal_id")))
    if old is None and not deleted:
        attributes = _pick(new, "pipedrive.note.added")
        if isinstance(attributes.get("content"), str):
            attributes["content"] = attributes["content"][:NOTE_CONTENT_LIMIT]
        builder.add("added", _time(new, "add_time", "update_time"), attributes)
    return builder.items


def derived_from_pipedrive_activity(
    old: dict | None, new: dict, *, deleted: bool
) -> list[Activity]:
    """``pipedrive.activity.created`` on first sight, ``.completed`` when marked done."""
    builder = _Builder(
        "activity", new, (new.get("person_id"), new.get("org_id"), new.get("deal_id"))
    )
    if deleted:
        return builder.items
    if old is None:
        builder.add(
            "created",
            _time(new, "add_time", "update_time"),
            _pick(new, "pipedrive.activity.created"),
        )
    if new.get("done") is True and (old is None or old.get("done") is not True):
        when = _time(new, "marked_as_done_time", "update_time")
        builder.add(
            "completed",
            when,
            _pick(new, "pipedrive.activity.completed"),
            key_suffix=time_text(when),
        )
    return builder.items


def derived_from_lead(old: dict | None, new: dict, *, deleted: bool) -> list[Activity]:
    """``pipedrive.lead.created`` on first sight of a lead that is not deleted."""
    builder = _Builder("lead", new, (new.get("person_id"), new.get("organization_id"), None))
    if old is None and not deleted:
        attributes = _pick(new, "pipedrive.lead.created")
        builder.add("created", _time(new, "add_time", "update_time"), attributes)
    return builder.items


def lead_converted(
    deal: dict, lead_id: str, parties: tuple[int | None, int | None] | None
) -> list[Activity]:
    """``pipedrive.lead.converted``: ``deal`` was made from the lead ``lead_id``. It concerns
    the deal and the lead's person and organization (``parties``), the deal's when the CDP
    never held the lead; it happened when the deal was created."""
    person, org = parties or (deal.get("person_id"), deal.get("org_id"))
    builder = _Builder("lead", {"id": lead_id}, (person, org, deal["id"]))
    attributes = {
        "lead_id": lead_id,
        "title": deal.get("title"),
        "value": deal.get("value"),
        "currency": deal.get("currency"),
    }
    builder.add("converted", _time(deal, "add_time", "update_time"), attributes)
    return builder.items


def activity_types_of(kind: str) -> Iterable[str]:
    """Every activity type a stream kind can emit."""
    prefix = f"pipedrive.{kind}."
    return [t for t in (*CORE_ATTRIBUTES, *UPDATED_TYPES) if t.startswith(prefix)]
