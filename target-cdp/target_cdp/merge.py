"""Field merge of a Pipedrive person into a CDP person (``merge_strategy`` and friends).

A Pipedrive record *proposes* values for CDP fields (only the fields present in the record;
API v1's ``email``/``phone`` lists stand for ``emails``/``phones`` when those are absent).
``merge_person`` decides, field by field, which proposals are written:

- a new person gets every proposed non-null value of a writable field (email always: it is the
  merge key);
- an existing person: ``ignore`` writes nothing; ``append_only`` and
  ``protect_existing_values`` write only where the stored value is null (``""`` and ``0`` are
  values); ``overwrite_existing`` writes every proposal, an explicit null clearing the field.

An attribute is addressed by its path of keys (``("custom_fields", "plan.tier")``), never by a
dotted string: Pipedrive keys may contain ``.``, and splitting them would nest ``utm.source``
under ``utm`` or merge it into a neighbour.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from target_cdp.identity import normalize_email, primary_value
from target_cdp.settings import Settings
from target_cdp.unknown_fields import UNKNOWN_FIELDS

COLUMNS = ("email", "first_name", "last_name", "phone", "organization_id")
#: Record keys that are not copied into ``attributes`` (they have columns or are metadata).
NOT_ATTRIBUTES = frozenset(
    {
        "id",
        "first_name",
        "last_name",
        "org_id",
        "add_time",
        "update_time",
        "is_deleted",
        "custom_fields",
        UNKNOWN_FIELDS,
    }
)
_MISSING = object()

#: A CDP person field: a column name, or the path of keys of an attribute.
Field = str | tuple[str, ...]


def propose(
    record: dict, blocked: re.Pattern[str], organization_ids: dict[int, str]
) -> dict[Field, Any]:
    """CDP field -> value for every field the record carries.

    ``organization_id`` is left out when the record's organization is not in the CDP yet: it is
    filled in when the organization arrives (see ``links.py``).
    """
    proposed: dict[Field, Any] = {}
    emails, phones = _contacts(record, "emails", "email"), _contacts(record, "phones", "phone")
    if emails is not _MISSING:
        given = primary_value(emails)
        email = normalize_email(given, blocked)
        # A junk address (placeholder, noreply@...) says nothing: it never clears a real email.
        # No address at all (no item, an empty value) is an explicit null.
        if email is not None or not (given or "").strip():
            proposed["email"] = email
    for name in ("first_name", "last_name"):
        if name in record:
            proposed[name] = record[name]
    if phones is not _MISSING:
        proposed["phone"] = primary_value(phones)
    if "org_id" in record:
        org = record["org_id"]
        if org is None:
            proposed["organization_id"] = None
        elif org in organization_ids:
            proposed["organization_id"] = organization_ids[org]
    for key, value in record.items():
        if key not in NOT_ATTRIBUTES:
            proposed[(key,)] = value
    for key, value in (record.get("custom_fields") or {}).items():
        proposed["custom_fields", key] = value
    return proposed


def _contacts(record: dict, name: str, v1_name: str) -> Any:
    """``emails``/``phones``, else API v1's ``email``/``phone`` (singer-io tap-pipedrive)."""
    return record.get(name, record.get(v1_name, _MISSING))


def _get(person: dict, field: Field) -> Any:
    if isinstance(field, str):
        return person.get(field)
    node: Any = person.get("attributes") or {}
    for part in field:
        if not isinstance(node, dict):
            return None
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return None
    return node


def _set(person: dict, field: Field, value: Any) -> None:
    if isinstance(field, str):
        person[field] = value
        return
    node = person.setdefault("attributes", {})
    for part in field[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if value is None:
        node.pop(field[-1], None)
    else:
        node[field[-1]] = value


def _may_write(settings: Settings, field: Field) -> bool:
    """Whether ``writable_fields`` lets Pipedrive write the field (attributes by whole keys).

    ``attributes.utm`` allows the key ``utm`` (and what it holds), not the key ``utm.source``.
    """
    if settings.writable_fields is None:
        return True
    names = (field,) if isinstance(field, str) else ("attributes", *field)
    return any(".".join(names[:n]) in settings.writable_fields for n in range(1, len(names) + 1))


def merge_person(
    existing: dict | None,
    proposed: dict[Field, Any],
    settings: Settings,
    *,
    fill_only: bool = False,
) -> dict:
    """The person's fields after applying a record's proposals (``existing`` is not mutated).

    ``fill_only``: write only where the stored value is null, whatever ``merge_strategy`` says
    (the echo of the CDP's own write-back, see ``writeback.py``).
    """
    if existing is None:
        person: dict = dict.fromkeys(COLUMNS) | {"attributes": {}}
        for field, value in proposed.items():
            if value is not None and (field == "email" or _may_write(settings, field)):
                _set(person, field, value)
        return person
    person = copy.deepcopy(existing)
    if settings.merge_strategy == "ignore":
        return person
    fill_only = (
        fill_only or settings.merge_strategy == "append_only" or settings.protect_existing_values
    )
    for field, value in proposed.items():
        if not _may_write(settings, field):
            continue
        if fill_only and (_get(person, field) is not None or value is None):
            continue
        _set(person, field, value)
    return person
