"""Fields a record says it cannot tell (``unknown_fields``), taken from the last record that could.

A source may build some records without fields its other records carry: tap-pipedrive's live
mode builds persons from webhooks, which never carry ``marketing_status`` or ``doi_status``, and
names them in the record's ``unknown_fields``. That is not an absent value (an account without
Pipedrive's marketing app has no status at all, and its records simply lack the field): it is
"this record does not know". So the target takes each such field from the record it holds (the
last one that knew it), and keeps the name in ``unknown_fields`` only while no record has told
it. Derived activities then see no change in a field nobody changed, and ``consent.py`` defers
a new person's email permission instead of deciding it from the default.
"""

from __future__ import annotations

from typing import Any

UNKNOWN_FIELDS = "unknown_fields"


def is_unknown(record: dict[str, Any], name: str) -> bool:
    """Whether the record says it cannot tell this field's value."""
    names = record.get(UNKNOWN_FIELDS)
    return isinstance(names, list) and name in names


def with_known_values(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The incoming record, each field it cannot tell taken from the stored record ``old``.

    A field the incoming record carries anyway is its own; one ``old`` lacks too stays named in
    ``unknown_fields``. A record naming nothing is returned as it is (``null`` dropped).
    """
    if UNKNOWN_FIELDS not in new:
        return new
    record = {key: value for key, value in new.items() if key != UNKNOWN_FIELDS}
    names = new[UNKNOWN_FIELDS] if isinstance(new[UNKNOWN_FIELDS], list) else []
    still: list[str] = []
    for name in names:
        if name in record:
            continue
        if old is not None and name in old:
            record[name] = old[name]
        else:
            still.append(name)
    if still:
        record[UNKNOWN_FIELDS] = still
    return record
