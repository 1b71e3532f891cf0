"""Which audience changes a run still owes: the bookmark of ``audience_changes``.

Every change of one dbt build carries the build's ``as_of`` as its ``changed_at``, and a later
build at the same ``as_of`` (a rebuild after a sync, see audience_membership.yml) adds changes
with that very ``changed_at``. So ``changed_at`` alone cannot say what was sent: the SDK's
``>=`` would send a build's changes again on every run, ``>`` would lose a rebuild's, and a
``(changed_at, change_id)`` position would lose a rebuild's change whose id sorts before the
last one sent. The bookmark is therefore the latest ``changed_at`` sent *and the ids sent at
it*; the stream reads ``changed_at >= bookmark`` and skips exactly those ids. Changes never
change once written (closed stints are history), so a change id sent is a change sent.

The ids are kept only for the latest ``changed_at``: the state grows with the changes of one
build, never with history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def utc(moment: dt.datetime | str) -> dt.datetime:
    """A timestamp (or its ISO 8601 text) as an aware UTC datetime."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


@dataclass
class ChangeBookmark:
    """The latest ``changed_at`` sent and the change ids sent at it."""

    changed_at: dt.datetime | None = None
    sent: list[str] = field(default_factory=list)
    _sent: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._sent = set(self.sent)

    @classmethod
    def from_state(cls, value: Any, sent_at: dict[str, Any] | None) -> ChangeBookmark:
        """From the stream's ``replication_key_value`` and its ``sent_at_bookmark`` entry.

        Ids recorded for another ``changed_at`` than the bookmark's (a state edited by hand)
        are not trusted: every change at the bookmark is sent again rather than lost.
        """
        if value in (None, ""):
            return cls()
        changed_at = utc(value)
        sent: list[str] = []
        if sent_at and sent_at.get("changed_at") and utc(sent_at["changed_at"]) == changed_at:
            sent = list(sent_at.get("change_ids") or [])
        return cls(changed_at, sent)

    def owes(self, changed_at: dt.datetime, change_id: str) -> bool:
        """Whether this change was not sent yet (changes arrive at or after the bookmark)."""
        if self.changed_at is None or changed_at > self.changed_at:
            return True
        return changed_at == self.changed_at and change_id not in self._sent

    def advance(self, changed_at: dt.datetime, change_id: str) -> None:
        """Record a change as sent (changes are sent in ``changed_at`` order)."""
        if self.changed_at is None or changed_at > self.changed_at:
            self.changed_at, self.sent, self._sent = changed_at, [], set()
        self.sent.append(change_id)
        self._sent.add(change_id)

    def state_entry(self) -> dict[str, Any]:
        """The ``sent_at_bookmark`` entry kept in the stream's state (it shares ``sent``)."""
        return {
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "change_ids": self.sent,
        }
