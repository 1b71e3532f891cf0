"""Performing one action for one record exactly once, across reruns and crashes.

Pipedrive has no idempotency key and no upsert, so the ledger carries the guarantee:

1. The payload (typed body, match values) is hashed. A ``done`` row with the same hash: nothing
   is sent. A ``done`` row with another hash: the object it produced is updated (PATCH, or PUT
   for notes), never created again.
2. Before any call the row is committed as ``intent`` (with the id it will update, if any).
3. After Pipedrive's answer the id is committed and the row is ``done``.
4. An ``intent`` row found at the start of an action (the process died between 2 and 3, or a
   create's answer never came) is resolved by looking the object up before creating: an
   upsert's email (or custom field) search; for activities and notes the short hidden marker
   written into their ``note``/``content`` (``<!-- cdp-writeback:<12 hex> -->``), searched
   among the most recently updated objects linked to the same person/deal/organization; for
   deals, organizations and plain person creates, the most recently updated objects with the
   same title/name (and person). Found: the id is recorded (the body is sent as an update only
   if it changed since the intent); not found: it is created.

A create that fails in a way that may have reached Pipedrive (5xx, no answer) goes through the
same lookup before it is tried again. Once a create may have reached Pipedrive its ``intent`` row
is never undone: if that lookup cannot be made (token budget spent, a 4xx) the run stops with the
row kept, so the next run looks the object up before creating it. Otherwise a 4xx writes
nothing: the record's error is stored in ``writeback_errors`` and the row is put back as it was;
an exhausted token budget stops the run with the ledger as it was before the refused call. A
record an action skips (a template rendered empty or not a number) sends nothing and is stored
in ``writeback_errors`` with a null status.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
from tap_pipedrive.errors import BudgetExhausted

from target_pipedrive.actions import Action, Skip
from target_pipedrive.client import PipedriveClient, Rejected, UncertainOutcome
from target_pipedrive.custom_fields import CustomFieldNames
from target_pipedrive.ledger import DONE, INTENT, Entry, Ledger
from target_pipedrive.objects import LIST_COSTS, SEARCH_PERSONS_COST, PipedriveObject

logger = logging.getLogger("target_pipedrive")

LOOKUP_PAGE = 500


class LookupFailed(Exception):  # noqa: N818 - carries the cause out of ``_send``
    """The lookup after a create that may have reached Pipedrive failed; its intent stays."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def marker_of(action: str, source_key: str) -> str:
    """The hidden marker an action's activity or note carries for one source key."""
    digest = hashlib.sha256(f"{action}\n{source_key}".encode()).hexdigest()[:12]
    return f"<!-- cdp-writeback:{digest} -->"


def payload_hash(payload: Mapping[str, Any]) -> str:
    """Stable hash of what an action sends."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _unresolved(action: Action, source_key: str, cause: Exception) -> Exception:
    """What stops the run when a create that may have happened could not be looked up: a spent
    budget stops it cleanly, anything else is one line."""
    if isinstance(cause, BudgetExhausted):
        return cause
    return UncertainOutcome(
        f"action '{action.name}' for {source_key}: a create that may have reached Pipedrive "
        f"could not be looked up ({cause}); run again to look it up before creating"
    )


class Runner:
    """Runs actions against Pipedrive and the ledger; counts what happened."""

    def __init__(
        self,
        client: PipedriveClient | None,
        ledger: Ledger | None,
        custom: Mapping[str, CustomFieldNames],
        *,
        dry_run: bool = False,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.custom = custom
        self.dry_run = dry_run
        self.counts: Counter[str] = Counter()
        self._round_robin: dict[str, int] = {}

    def run(
        self, action: Action, source_key: str, data: dict[str, Any], cdp_ids: tuple[Any, Any]
    ) -> int | None:
        """Perform ``action`` for one record; the Pipedrive id it now stands for (or None)."""
        custom = self.custom.get(action.object_type)
        try:
            plan = action.plan(data, custom)
        except Skip as exc:
            self.counts["skipped"] += 1
            logger.warning("Skipped action '%s' for %s: %s", action.name, source_key, exc)
            if self.ledger is not None and not self.dry_run:
                self.ledger.record_error(action.name, source_key, None, f"skipped: {exc}")
            return None
        entry = self.ledger.get(action.name, source_key) if self.ledger else None
        body = plan.body
        target = action.target
        if plan.round_robin:
            body[target.owner_field] = self._owner(action, entry)
        if target.marker_field and action.verb == "create":
            marker = marker_of(action.name, source_key)
            body[target.marker_field] = f"{body.get(target.marker_field) or ''}{marker}"
        payload = {"body": body, "match": plan.match}
        digest = payload_hash(payload)
        if entry and entry.status == DONE and entry.payload_hash == digest:
            self.counts["unchanged"] += 1
            return entry.pipedrive_id
        if self.dry_run:
            self._print(action, plan.match, body, entry)
            return entry.pipedrive_id if entry else None
        assert self.client is not None
        assert self.ledger is not None
        known = plan.match.get("id") if action.verb == "update" else None
        if entry is not None:
            known = known or entry.pipedrive_id
            if known is None and entry.status == INTENT:
                known = self._look_up(action, source_key, entry.payload)
                if known is not None and action.verb == "create" and entry.payload_hash == digest:
                    # the unfinished create made exactly this: record it, send nothing (an
                    # upsert may have found a person it had not yet updated: it updates)
                    self.ledger.write_intent(
                        action.name, source_key, target.name, digest, payload, cdp_ids, known
                    )
                    self.ledger.write_done(action.name, source_key, known)
                    self.counts["recovered"] += 1
                    return known
        self.ledger.write_intent(
            action.name, source_key, target.name, digest, payload, cdp_ids, known
        )
        try:
            pipedrive_id = self._send(action, source_key, payload, known)
        except Rejected as exc:
            self._undo(action, source_key, entry)
            self.ledger.record_error(action.name, source_key, exc.status, exc.message)
            self.counts["errors"] += 1
            logger.warning(
                "Pipedrive refused action '%s' for %s (HTTP %s): %s",
                action.name,
                source_key,
                exc.status,
                exc.message,
            )
            return None
        except BudgetExhausted:
            self._undo(action, source_key, entry)
            raise
        except LookupFailed as exc:
            # the create may have happened: keep the intent so the next run looks it up first
            raise _unresolved(action, source_key, exc.cause) from None
        self.ledger.write_done(action.name, source_key, pipedrive_id)
        self.counts["updated" if known else "created"] += 1
        return pipedrive_id

    def _undo(self, action: Action, source_key: str, entry: Entry | None) -> None:
        assert self.ledger is not None
        if entry is None:
            self.ledger.forget(action.name, source_key)
        else:
            self.ledger.restore(entry)

    def _owner(self, action: Action, entry: Entry | None) -> int:
        """Round robin: a record keeps the owner it got; a new one takes the next user."""
        field = action.target.owner_field
        if entry is not None and field in entry.payload["body"]:
            return int(entry.payload["body"][field])
        users = action.owner["round_robin"] if action.owner else []
        if action.name not in self._round_robin:
            self._round_robin[action.name] = self.ledger.count(action.name) if self.ledger else 0
        turn = self._round_robin[action.name]
        self._round_robin[action.name] = turn + 1
        return int(users[turn % len(users)])

    def _print(
        self, action: Action, match: dict[str, Any], body: dict[str, Any], entry: Entry | None
    ) -> None:
        target = action.target
        api = f"/api/{target.version}"
        shown = orjson.dumps(body).decode()
        if action.verb == "update" or (entry and entry.pipedrive_id):
            object_id = match.get("id") or (entry.pipedrive_id if entry else None)
            call = f"{target.update_method} {api}{target.collection}/{object_id} {shown}"
        elif action.verb == "upsert":
            call = (
                f"GET /api/v2/persons/search {orjson.dumps(match).decode()}, then "
                f"PATCH {api}{target.collection}/<found> or POST {api}{target.collection} {shown}"
            )
        else:
            call = f"POST {api}{target.collection} {shown}"
        self.counts["dry_run"] += 1
        logger.info("dry_run: action '%s' would send %s", action.name, call)

    def _send(
        self, action: Action, source_key: str, payload: dict[str, Any], known: int | None
    ) -> int:
        assert self.client is not None
        target = action.target
        body = payload["body"]
        if known is None and action.verb == "upsert":
            known = self._search_person(payload["match"], action.object_type)
        if known is not None:
            answer = self.client.call(
                target.update_method,
                target.version,
                target.path.replace("{id}", str(known)),
                target.update_cost,
                body=body,
            )
            return int(answer["data"]["id"]) if answer.get("data") else known
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.client.call(
                    "POST",
                    target.version,
                    target.collection,
                    target.create_cost,
                    body=body,
                    retry_uncertain=False,
                )
                return int(answer["data"]["id"])
            except UncertainOutcome as exc:
                if attempt >= self.client.max_retries:
                    msg = (
                        f"action '{action.name}' for {source_key}: {exc} on all {attempt} "
                        "attempts, so the create may or may not have happened; the next run "
                        "looks for it before creating (Pipedrive may be down: try later)"
                    )
                    raise UncertainOutcome(msg) from None
                logger.warning(
                    "Create for action '%s' (%s) may or may not have happened (%s); looking "
                    "for it before trying again",
                    action.name,
                    source_key,
                    exc,
                )
                self.client.backoff(attempt)
                try:
                    found = self._find(action, source_key, payload)
                except (BudgetExhausted, Rejected) as failure:
                    raise LookupFailed(failure) from None
                if found is not None:
                    return found

    def _look_up(self, action: Action, source_key: str, payload: Mapping[str, Any]) -> int | None:
        """``_find`` for an intent a previous run left: a 4xx stops the run, the row kept."""
        try:
            return self._find(action, source_key, payload)
        except Rejected as exc:
            raise _unresolved(action, source_key, exc) from None

    def _search_person(self, match: Mapping[str, Any], object_type: str) -> int | None:
        assert self.client is not None
        key, value = next(iter(match.items()))
        params = {"term": value, "exact_match": "true", "limit": 2}
        params["fields"] = "email" if key == "email" else "custom_fields"
        answer = self.client.call(
            "GET", "v2", "/persons/search", SEARCH_PERSONS_COST, params=params
        )
        items = (answer.get("data") or {}).get("items") or []
        if len(items) > 1:
            logger.warning(
                "%s match %s found %d persons; the first (id %s) is used",
                object_type,
                key,
                len(items),
                items[0]["item"]["id"],
            )
        return int(items[0]["item"]["id"]) if items else None

    def _find(self, action: Action, source_key: str, payload: Mapping[str, Any]) -> int | None:
        """Look for what an unfinished create may have made (see the module docstring)."""
        assert self.client is not None
        target = action.target
        body = payload.get("body") or {}
        if action.verb == "upsert" or (target.name == "person" and body.get("emails")):
            match = payload.get("match") or {"email": body["emails"][0]["value"]}
            return self._search_person(match, target.name)
        candidates = self._recent(target, body)
        if target.marker_field:
            marker = marker_of(action.name, source_key)
            wanted = lambda row: marker in str(row.get(target.marker_field) or "")  # noqa: E731
        else:
            label = "title" if target.name == "deal" else "name"
            wanted = lambda row: row.get(label) == body.get(label) and all(  # noqa: E731
                row.get(link) == body[link] for link in ("person_id", "org_id") if link in body
            )
        for row in candidates:
            if wanted(row):
                logger.info(
                    "Found the %s that action '%s' created for %s before it stopped: id %s",
                    target.name,
                    action.name,
                    source_key,
                    row["id"],
                )
                return int(row["id"])
        return None

    def _recent(self, target: PipedriveObject, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The most recently updated objects of a kind, narrowed by the body's links."""
        assert self.client is not None
        links = {link: body[link] for link in target.links if body.get(link)}
        if target.version == "v1":
            params: dict[str, Any] = {"sort": "update_time DESC", "limit": LOOKUP_PAGE, **links}
        else:
            params = {"sort_by": "update_time", "sort_direction": "desc", "limit": LOOKUP_PAGE}
            params |= dict(list(links.items())[:1])
        cost = LIST_COSTS[target.version, target.collection]
        answer = self.client.call("GET", target.version, target.collection, cost, params=params)
        return list(answer.get("data") or [])
