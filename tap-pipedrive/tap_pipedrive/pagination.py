"""Paginators for Pipedrive's two pagination styles.

API v2 (and v1 changelogs) page with an opaque cursor (``additional_data.next_cursor``, null on
the last page): :class:`CursorPaginator`. The cursor, not the page's size, says whether the list
goes on: an empty page that still carries a cursor is valid and is not the end (stopping there
would end a reconciliation pass early, and its ACTIVATE_VERSION would delete the unread rows
downstream).

API v1 ``/notes`` pages with ``start``/``limit`` offsets. Plain offset paging over a list sorted
by ``update_time`` loses rows when a note is updated mid-sync: the note moves to the end, every
later row shifts one place left, and the row at the next page boundary is never returned. Since
the bookmark then moves past it, that note would be lost for good. :class:`KeysetOffsetPaginator`
turns offset paging into keyset paging: every request restarts at the last row seen
(``updated_since=<its update_time>``, ``start=<its position among rows with that update_time>``),
so the first row returned must be that row again. If it is, the overlap is dropped; if a later
row comes back instead, rows shifted, and the page is re-read from the start of that second,
skipping what was already emitted. The cost is one overlapping row per page. An empty page with
``more_items_in_collection`` true (rows hidden from this user) is skipped by its ``next_start``.

API v1 ``/leads/archived`` takes no time filter: :class:`NewestFirstPaginator` reads it newest
first and stops below the bookmark.

The first two stop with :class:`~tap_pipedrive.errors.PaginationLoopError`, naming the
endpoint, when the server would have them page without end: a cursor handed out twice
(repeated, or two alternating), an offset position planned twice (other than the restart of a
re-read), or the same rows served again for a later position (a server that ignores ``start``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator

from tap_pipedrive.errors import PaginationLoopError
from tap_pipedrive.response import payload_of
from tap_pipedrive.timestamps import to_rfc3339
from tap_pipedrive.transport import request_label


def _loop(response: requests.Response, what: str) -> PaginationLoopError:
    return PaginationLoopError(
        f"{request_label(response.url)} {what}, so paging would never end; the server (or a "
        "proxy in front of it) is at fault: the run stops here, and the next one resumes from "
        "the state written"
    )


class CursorPaginator(BaseAPIPaginator[str | None]):
    """``additional_data.next_cursor`` pagination (v2 lists, v1 changelogs)."""

    def __init__(self) -> None:
        """Start on the first page (no cursor)."""
        super().__init__(None)
        self._cursors: set[str] = set()

    def get_next(self, response: requests.Response) -> str | None:
        """The cursor of the next page, or None on the last page.

        Raises:
            PaginationLoopError: if the cursor was handed out before in this list.
        """
        cursor = _next_cursor(response)
        if cursor is not None:
            if cursor in self._cursors:
                raise _loop(response, "returned a next_cursor it had already given")
            self._cursors.add(cursor)
        return cursor

    def continue_if_empty(self, response: requests.Response) -> bool:
        """An empty page is the end only if it carries no cursor."""
        return _next_cursor(response) is not None


def _next_cursor(response: requests.Response) -> str | None:
    additional = payload_of(response).get("additional_data") or {}
    return additional.get("next_cursor") or None


def _offsets(response: requests.Response) -> dict[str, Any]:
    """v1 offset pagination: ``additional_data.pagination`` (notes), or ``additional_data``
    itself (leads: ``start``, ``limit``, ``more_items_in_collection``; spec v1 ``GET /leads``)."""
    additional = payload_of(response).get("additional_data") or {}
    return additional.get("pagination") or additional


def _key(record: Mapping[str, Any]) -> tuple[str, int | str]:
    """(update_time, id): ids are integers, or UUID strings (leads), sorted as text."""
    record_id = record.get("id")
    return (
        to_rfc3339(record.get("update_time")) or "",
        record_id if isinstance(record_id, str) else int(record_id or 0),
    )


class KeysetOffsetPaginator(BaseAPIPaginator[tuple[str | None, int]]):
    """Offset pagination made safe for a list sorted by (update_time, id); see module docs.

    The token is ``(updated_since, start)``. The stream passes each page's raw records through
    :meth:`accept`, which drops rows already emitted and works out the next token.
    """

    def __init__(self, updated_since: str | None) -> None:
        """Start at ``updated_since`` (RFC 3339; None: from the beginning), offset 0."""
        super().__init__((updated_since, 0))
        self._anchor: tuple[str, int | str] | None = None
        self._next: tuple[str | None, int] | None = None
        self._reread = False
        self._skip = False
        self._planned: set[tuple[str | None, int]] = set()
        self._previous_page: tuple[tuple[str, int | str], ...] = ()

    def accept(self, records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Return the records of this page that were not emitted before; plan the next page."""
        since, start = self.current_value
        anchor = self._anchor
        skipped, self._skip = self._skip, not records
        # After a skipped empty page, rows later than the anchor are expected, not a shift.
        self._reread = (
            anchor is not None
            and start > 0
            and not skipped
            and len(records) > 0
            and _key(records[0]) > anchor
        )
        if anchor is not None and self._reread:
            # Rows before our position disappeared from this second: re-read it from its start.
            self._next = (anchor[0], 0)
            return []
        fresh = [row for row in records if anchor is None or _key(row) > anchor]
        if records:
            last_time, last_id = _key(records[-1])
            if last_time == since:
                position = start + len(records) - 1
            else:
                position = sum(1 for row in records if _key(row)[0] == last_time) - 1
            self._anchor = (last_time, last_id)
            self._next = (last_time, position)
        return fresh

    def has_more(self, response: requests.Response) -> bool:
        """``more_items_in_collection``, or a pending re-read after a shift."""
        if self._reread:
            return True
        return bool(_offsets(response).get("more_items_in_collection"))

    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page whose rows were all seen before is not the end of the list."""
        return self.has_more(response)

    def get_next(self, response: requests.Response) -> tuple[str | None, int] | None:
        """The token planned by :meth:`accept`, or past an empty page to its ``next_start``.

        Raises:
            PaginationLoopError: if the position was planned before (other than a re-read's
                restart), or the server sent the previous page's rows again for a later one.
        """
        token = self._next_token(response)
        page = tuple(_key(row) for row in payload_of(response).get("data") or [])
        same_rows = len(page) > 1 and page == self._previous_page and not self._reread
        self._previous_page = page
        if same_rows:
            raise _loop(response, "sent the same rows again for a later start offset")
        if self._reread:  # a re-read goes over positions again, legitimately
            self._planned.clear()
        elif token in self._planned:
            raise _loop(response, f"brought paging back to a position it had reached ({token})")
        self._planned.add(token)
        return token

    def _next_token(self, response: requests.Response) -> tuple[str | None, int] | None:
        if not self._skip:
            return self._next
        since, start = self.current_value
        pagination = _offsets(response)
        next_start = pagination.get("next_start")
        if next_start is None:
            next_start = start + int(pagination.get("limit") or 0)
        return since, int(next_start)


class NewestFirstPaginator(BaseAPIPaginator[int]):
    """Offset pages of a v1 list read newest first (``sort=update_time DESC, id DESC``), down to
    a floor: for a list without a time filter (``/leads/archived``), so a run reads only the
    pages that hold changes since its bookmark, plus one.

    The token is ``start``. Paging ends after the page whose oldest row is older than
    ``floor`` (RFC 3339; None: read to the end). A row updated while the list is read moves to
    the front, shifting later rows one place back: some row is then read twice, none is lost.
    A row leaving the list (unarchived or deleted) shifts them forward: the row at the next
    page boundary may be missed; the next reconciliation pass reads it.
    """

    def __init__(self, floor: str | None) -> None:
        """Start at offset 0; stop below ``floor``."""
        super().__init__(0)
        self._floor = floor

    def has_more(self, response: requests.Response) -> bool:
        """More pages, unless this one already went below the floor."""
        if not _offsets(response).get("more_items_in_collection"):
            return False
        rows = payload_of(response).get("data") or []
        return self._floor is None or not rows or _key(rows[-1])[0] >= self._floor

    def get_next(self, response: requests.Response) -> int:
        """``next_start``, or the offset after this page."""
        offsets = _offsets(response)
        rows = payload_of(response).get("data") or []
        return int(offsets.get("next_start") or self.current_value + len(rows))
