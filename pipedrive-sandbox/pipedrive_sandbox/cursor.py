"""Opaque v2 cursors in Pipedrive's format: base64url JSON of the next page's first row.

The spec's example cursor decodes to
``{"field":"id","fieldValue":7,"sortDirection":"asc","id":7}``: a keyset position on (sort field
value, id), so rows changed while a client pages are handled as Pipedrive does.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from pipedrive_sandbox.errors import BadRequestError


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor."""

    field: str
    value: int | str
    direction: str
    id: int


def encode(cursor: Cursor) -> str:
    """Base64url (unpadded) JSON, as Pipedrive emits it."""
    payload = {
        "field": cursor.field,
        "fieldValue": cursor.value,
        "sortDirection": cursor.direction,
        "id": cursor.id,
    }
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def decode(text: str, *, sort_by: str, direction: str) -> Cursor:
    """Decode and check a cursor against the request's sort; 400 when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = orjson.loads(raw)
        cursor = Cursor(
            field=payload["field"],
            value=payload["fieldValue"],
            direction=payload["sortDirection"],
            id=payload["id"],
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise BadRequestError("Invalid cursor: the value of 'cursor' is malformed") from exc
    if not isinstance(cursor.id, int) or isinstance(cursor.id, bool) or cursor.id < 0:
        raise BadRequestError("Invalid cursor: the value of 'cursor' is malformed")
    if cursor.field != sort_by or cursor.direction != direction:
        raise BadRequestError(
            "Invalid cursor: it was issued for a different sort_by/sort_direction than this request"
        )
    return cursor
