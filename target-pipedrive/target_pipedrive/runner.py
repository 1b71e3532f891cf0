"""Performing one action for one record exactly once, across reruns and crashes.

Pipedrive has no idempotency key and no upsert, so the ledger carries the guarantee:

1. The payload (typed body, match values) is hashed. A ``done`` row with the same hash: nothing
   is sent. A ``done`` row with another hash: the object it produced is updated (PATCH, or PUT
   for notes), never created again.
2. Before any call the row is committed as ``intent`` (with the id it will update, if any),
   together with the intents of the other calls of its wave, in one transaction.
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

Throughput: a wave's calls run on a small thread pool, paced by the tap's pacer, so the burst
window rather than one commit and one round trip per action sets the rate. A crash mid-wave
leaves every intent of the wave open, sent or not; each is resolved by step 4 on the rerun.
Calls touching the same row, Pipedrive id or upsert match go in later waves, so they keep the
records' order and an upsert finds the person an earlier record's upsert created.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import orjson
from tap_pipedrive.errors import BudgetExhausted

from target_pipedrive.actions import Action, Skip
from target_pipedrive.client import PipedriveClient, Rejected, UncertainOutcome
from target_pipedrive.custom_fields import CustomFieldNames
from target_pipedrive.ledger import DONE, INTENT, Entry, Intent, Ledger, LedgerError
from target_pipedrive.objects import LIST_COSTS, SEARCH_PERSONS_COST, PipedriveObject

logger = logging.getLogger("target_pipedrive")

LOOKUP_PAGE = 500
#: Calls in flight at once: enough to keep the burst window busy while each waits for its
#: answer; the pacer, not the pool, sets the rate.
POOL_SIZE = 4
_CONFLICT = object()  # a record that waits for the next wave


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


@dataclass
class Record:
    """One record an action runs for: its key, what templates see, its CDP ids."""

    source_key: str
    data: dict[str, Any]
    cdp_ids: tuple[Any, Any]


@dataclass
class _Call:
    """What one action sends for one record, its intent committed before it goes."""

    index: int
    source_key: str
    payload: dict[str, Any]
    known: int | None
    previous: Entry | None
    cdp_ids: tuple[Any, Any]
    digest: str


class Runner:
    """Runs actions against Pipedrive and the ledger; counts what happened."""

    def __init__(
        self,
        client: PipedriveClient | None,
        ledger: Ledger | None,
        custom: Mapping[str, CustomFieldNames],
        *,
        dry_run: bool = False,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.custom = custom
        self.dry_run = dry_run
        self.counts: Counter[str] = Counter()
        self._round_robin: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(pool_size, "pipedrive-call") if client else None

    def close(self) -> None:
        """Let the pool's threads go (every call has been answered by then)."""
        if self._pool is not None:
            self._pool.shutdown()

    def run(
        self, action: Action, source_key: str, data: dict[str, Any], cdp_ids: tuple[Any, Any]
    ) -> int | None:
        """Perform ``action`` for one record; the Pipedrive id it now stands for (or None)."""
        return self.run_batch(action, [Record(source_key, data, cdp_ids)])[0]

    def run_batch(self, action: Action, records: list[Record]) -> list[int | None]:
        """Perform ``action`` for each record; the Pipedrive id each now stands for (or None).

        In waves: the records are planned in order until one touches what an earlier one of
        the wave touches (the same ledger row, Pipedrive id or upsert match), which waits for
        the next wave, so such calls keep the records' order. A wave's intents are committed in
        one transaction, then its calls run on the pool, paced by the tap's pacer.
        """
        produced: list[int | None] = [None] * len(records)
        try:
            self._run_waves(action, records, produced)
        except BaseException:
            # The ids Pipedrive already answered are facts: commit them before the error
            # stops the run, or the rerun would have to find those objects again by lookup.
            if self.ledger is not None:
                with contextlib.suppress(LedgerError):
                    self.ledger.flush()
            raise
        return produced

    def _run_waves(self, action: Action, records: list[Record], produced: list[int | None]) -> None:
        waiting = list(range(len(records)))
        while waiting:
            calls: list[_Call] = []
            touched: set[tuple[Any, ...]] = set()
            for position, index in enumerate(waiting):
                outcome = self._prepare(action, index, records[index], touched)
                if outcome is _CONFLICT:
                    waiting = waiting[position:]
                    break
                if isinstance(outcome, _Call):
                    calls.append(outcome)
                else:
                    produced[index] = outcome
            else:
                waiting = []
            if calls:
                self._perform(action, calls, produced)

    def _prepare(
        self, action: Action, index: int, record: Record, touched: set[tuple[Any, ...]]
    ) -> Any:
        """The call one record needs (a ``_Call``), or the id it stands for without one, or
        ``_CONFLICT`` when it touches what the wave already does."""
        source_key, cdp_ids = record.source_key, record.cdp_ids
        custom = self.custom.get(action.object_type)
        try:
            plan = action.plan(record.data, custom)
        except Skip as exc:
            self.counts["skipped"] += 1
            logger.warning("Skipped action '%s' for %s: %s", action.name, source_key, exc)
            if self.ledger is not None and not self.dry_run:
                self.ledger.record_error(action.name, source_key, None, f"skipped: {exc}")
            return None
        entry = self.ledger.get(action.name, source_key) if self.ledger else None
        known = plan.match.get("id") if action.verb == "update" else None
        if entry is not None:
            known = known or entry.pipedrive_id
        touches = {("row", source_key)}
        if known is not None:
            touches.add(("id", known))
        if action.verb == "upsert":
            touches.add(("match", orjson.dumps(plan.match, option=orjson.OPT_SORT_KEYS)))
        if touches & touched:
            return _CONFLICT
        touched |= touches
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
        assert self.ledger is not None
        if entry is not None and known is None and entry.status == INTENT:
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
        return _Call(index, source_key, payload, known, entry, cdp_ids, digest)

    def _perform(self, action: Action, calls: list[_Call], produced: list[int | None]) -> None:
        """Commit the wave's intents, make its calls on the pool, record what they gave.

        The first request of each call is admitted in the records' order (its tokens held), so
        a spent budget refuses the later records, not a random few. Every answer is recorded
        before the run stops on a spent budget or an error.
        """
        assert self.client is not None
        assert self.ledger is not None
        assert self._pool is not None
        target = action.target
        self.ledger.write_intents(
            [
                Intent(
                    action.name, c.source_key, target.name, c.digest, c.payload, c.cdp_ids, c.known
                )
                for c in calls
            ]
        )
        outcomes: list[Future[int] | BaseException] = []
        refused: BudgetExhausted | None = None
        for call in calls:
            if refused is None:
                try:
                    self.client.admit(self._first_cost(action, call.known))
                except BudgetExhausted as exc:
                    refused = exc
            if refused is not None:
                outcomes.append(refused)
                continue
            outcomes.append(
                self._pool.submit(self._send, action, call.source_key, call.payload, call.known)
            )
        wait([outcome for outcome in outcomes if isinstance(outcome, Future)])
        stop: BaseException | None = None
        for call, outcome in zip(calls, outcomes, strict=True):
            try:
                if isinstance(outcome, BaseException):
                    raise outcome
                pipedrive_id = outcome.result()
            except Rejected as exc:
                self._undo(action, call.source_key, call.previous)
                self.ledger.record_error(action.name, call.source_key, exc.status, exc.message)
                self.counts["errors"] += 1
                logger.warning(
                    "Pipedrive refused action '%s' for %s (HTTP %s): %s",
                    action.name,
                    call.source_key,
                    exc.status,
                    exc.message,
                )
                continue
            except BudgetExhausted as exc:
                self._undo(action, call.source_key, call.previous)
                stop = stop or exc
                continue
            except LookupFailed as exc:
                # the create may have happened: keep the intent so the next run looks it up first
                stop = stop or _unresolved(action, call.source_key, exc.cause)
                continue
            except Exception as exc:  # noqa: BLE001 - raised once the answers are recorded
                stop = stop or exc
                continue
            self.ledger.write_done(action.name, call.source_key, pipedrive_id)
            self.counts["updated" if call.known else "created"] += 1
            produced[call.index] = pipedrive_id
        if stop is not None:
            raise stop

    @staticmethod
    def _first_cost(action: Action, known: int | None) -> int:
        """The tokens of the first request a call makes."""
        target = action.target
        if known is not None:
            return target.update_cost
        return SEARCH_PERSONS_COST if action.verb == "upsert" else target.create_cost

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
        """Make one call (on a pool thread); the tokens of its first request are held."""
        assert self.client is not None
        target = action.target
        body = payload["body"]
        admitted = True
        if known is None and action.verb == "upsert":
            known = self._search_person(payload["match"], action.object_type, admitted=True)
            admitted = False
        if known is not None:
            answer = self.client.call(
                target.update_method,
                target.version,
                target.path.replace("{id}", str(known)),
                target.update_cost,
                body=body,
                admitted=admitted,
            )
            return int(answer["data"]["id"]) if answer.get("data") else known
        attempt = 0
        while True:
            attempt += 1
            held, admitted = admitted, False
            try:
                answer = self.client.call(
                    "POST",
                    target.version,
                    target.collection,
                    target.create_cost,
                    body=body,
                    retry_uncertain=False,
                    admitted=held,
                )
                return int(answer["data"]["id"])
            except (BudgetExhausted, Rejected) as failure:
                if attempt > 1:  # an earlier attempt may have created it: the intent stays
                    raise LookupFailed(failure) from None
                raise
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

    def _search_person(
        self, match: Mapping[str, Any], object_type: str, *, admitted: bool = False
    ) -> int | None:
        assert self.client is not None
        key, value = next(iter(match.items()))
        params = {"term": value, "exact_match": "true", "limit": 2}
        params["fields"] = "email" if key == "email" else "custom_fields"
        answer = self.client.call(
            "GET", "v2", "/persons/search", SEARCH_PERSONS_COST, params=params, admitted=admitted
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
