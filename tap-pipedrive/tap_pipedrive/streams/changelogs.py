"""Changelogs: field-level history of the persons and deals a run emitted, one v1 call per
changed object (children of the entity streams)."""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlparse

from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.endpoints import Endpoint
from tap_pipedrive.response import set_payload
from tap_pipedrive.streams.entities import DealsStream, PersonsStream

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


class ChangelogStream(PipedriveStream):
    """Field-level history of the objects the parent emitted (v1 ``/{entity}/{id}/changelog``).

    Only changes at or after the parent's previous bookmark are emitted: older ones were
    emitted when the object last changed. Each change gets a stable ``id`` (a hash of what it
    is), so a change re-read at the inclusive boundary overwrites itself downstream.
    """

    primary_keys = ("id",)
    replication_key = "time"
    state_partitioning_keys: ClassVar[list[str]] = []  # one bookmark, not one per object
    selected_by_default = False
    parent_key: ClassVar[str]

    @property
    def path(self) -> str:  # type: ignore[override]
        """The spec's ``{id}`` as ``{person_id}`` or ``{deal_id}``, which the SDK fills in from
        the context the parent made."""
        return self.endpoints[0].path.replace("{id}", f"{{{self.parent_key}}}")

    def validate_response(self, response: requests.Response) -> None:
        """A 404 means the object was deleted after the parent listed it: no changes to read."""
        if response.status_code == HTTPStatus.NOT_FOUND:
            self.logger.warning(
                "No changelog for %s (HTTP 404: deleted since it was listed?)",
                urlparse(response.url).path,
            )
            set_payload(response, {"success": True, "data": [], "additional_data": {}})
            self.session.budget.charge(self.name, self._request_cost)
            return
        super().validate_response(response)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        """Drop changes older than the parent's bookmark; add the object id and a key."""
        record = super().post_process(row, context)
        if record is None or context is None:
            return record
        since = context.get("changes_since")
        if since and (record.get("time") or "") < since:
            return None
        parent_id = context[self.parent_key]
        record[self.parent_key] = parent_id
        identity = "|".join(
            str(part)
            for part in (
                parent_id,
                record.get("time"),
                record.get("field_key"),
                record.get("old_value"),
                record.get("new_value"),
                record.get("actor_user_id"),
                record.get("change_source"),
            )
        )
        record["id"] = hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
        return record


class PersonChangelogStream(ChangelogStream):
    """``GET /api/v1/persons/{id}/changelog``."""

    name = "person_changelog"
    endpoints = (Endpoint("v1", "/persons/{id}/changelog", 20),)
    parent_stream_type = PersonsStream
    parent_key = "person_id"


class DealChangelogStream(ChangelogStream):
    """``GET /api/v1/deals/{id}/changelog``."""

    name = "deal_changelog"
    endpoints = (Endpoint("v1", "/deals/{id}/changelog", 20),)
    parent_stream_type = DealsStream
    parent_key = "deal_id"
