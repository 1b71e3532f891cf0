"""The account's webhooks and their delivery, as Pipedrive's guide describes it.

Every record change (``RecordEvent`` from the store) becomes one v2 payload per matching active
webhook (``event_object`` and ``event_action`` equal or ``*``, version 2.0). Deliveries leave the
request that made the change at once: they wait in a queue ordered by due time, and a few worker
threads POST them with the webhook's Basic auth, one at a time per webhook (a webhook gets its
events in the order they happened; a retry comes after later events). Any 2xx is a success;
another status, a redirect (a subscription URL must not redirect), a refused connection or no
answer within ``timeout`` seconds (Pipedrive: 10) is a failed attempt, retried after
``retry_delays`` (Pipedrive: 3, 30 and 150 s; ``attempt`` 1-4); after the last retry the event
is given up. ``ban_after`` consecutive failed first attempts (Pipedrive: 10) ban the webhook for
``ban_seconds`` (Pipedrive: 30 minutes): events meanwhile are dropped, not queued, and the
webhook lists as ``is_active: 0``. Delays are wall-clock seconds; the control API shortens them
for tests and reports what was delivered, failed, given up and dropped, per webhook, and what
is still pending, so tests can wait for quiescence.

Not modelled: ``user_id`` permission filtering (every sandbox user sees every record), 1.0
payloads (1.0 webhooks can be created and listed but receive nothing), and deletion after
three days without a successful delivery.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.catalog import COMPANY_ID
from pipedrive_sandbox.clock import SandboxClock
from pipedrive_sandbox.custom_fields import CustomField
from pipedrive_sandbox.webhook_payloads import ENTITIES, RecordEvent, payload

WORKERS = 4
ATTEMPT_LOG_SIZE = 2000
# Webhooks one user may own (Pipedrive's guide); more is a 422.
WEBHOOKS_PER_USER = 40


@dataclass
class DeliveryConfig:
    """Pipedrive's schedule by default; the control API may shorten it."""

    retry_delays: tuple[float, ...] = (3.0, 30.0, 150.0)
    timeout: float = 10.0
    ban_after: int = 10
    ban_seconds: float = 1800.0


@dataclass
class Webhook:
    """One subscription (``BaseWebhook`` of spec v1) and its delivery counters."""

    record: dict[str, Any]
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    dropped_while_banned: int = 0
    first_try_failures_in_a_row: int = 0
    banned_until: float = 0.0  # time.monotonic()

    def wants(self, entity: str, action: str) -> bool:
        """Whether an event of ``entity``/``action`` is delivered to this webhook."""
        record = self.record
        return (
            record["version"] == "2.0"
            and record["event_object"] in (entity, "*")
            and record["event_action"] in (action, "*")
        )


@dataclass(order=True)
class _Attempt:
    due: float
    order: int
    webhook_id: int = field(compare=False)
    body: dict[str, Any] = field(compare=False)
    attempt: int = field(compare=False, default=1)


class WebhookDelivery:
    """Subscriptions, the delivery queue and its worker threads (started on first use)."""

    def __init__(
        self, clock: SandboxClock, custom_fields: dict[str, list[CustomField]], user_ids: list[int]
    ) -> None:
        self.clock = clock
        self.custom_fields = custom_fields
        self.user_id = user_ids[0]
        self.permitted_user_ids = user_ids
        self.config = DeliveryConfig()
        self.webhooks: dict[int, Webhook] = {}
        self.attempt_log: deque[dict[str, Any]] = deque(maxlen=ATTEMPT_LOG_SIZE)
        self._next_id = itertools.count(1)
        self._order = itertools.count()
        self._queue: list[_Attempt] = []
        self._busy: set[int] = set()  # webhooks with a delivery in flight
        self._condition = threading.Condition()
        self._threads: list[threading.Thread] = []

    # --- subscriptions ---------------------------------------------------------------------------

    def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a webhook from validated fields; ``None`` fields take Pipedrive's defaults."""
        with self._condition:
            webhook_id = next(self._next_id)
            record = {
                "id": webhook_id,
                "company_id": COMPANY_ID,
                "owner_id": self.user_id,
                "user_id": fields.get("user_id") or self.user_id,
                "event_action": fields["event_action"],
                "event_object": fields["event_object"],
                "subscription_url": fields["subscription_url"],
                "version": fields.get("version") or "2.0",
                "is_active": 1,
                "add_time": _stamp(self.clock.now()),
                "remove_time": None,
                "type": "general",
                "http_auth_user": fields.get("http_auth_user"),
                "http_auth_password": fields.get("http_auth_password"),
                "remove_reason": None,
                "last_delivery_time": None,
                "last_http_status": None,
                "admin_id": self.user_id,
                "name": fields["name"],
            }
            self.webhooks[webhook_id] = Webhook(record)
            return dict(record)

    def owned_by(self, user_id: int) -> int:
        """How many webhooks a user owns."""
        with self._condition:
            return sum(1 for w in self.webhooks.values() if w.record["user_id"] == user_id)

    def listed(self) -> list[dict[str, Any]]:
        """``GET /v1/webhooks``: every webhook, ``is_active`` 0 while banned."""
        with self._condition:
            now = time.monotonic()
            return [
                {**w.record, "is_active": 0 if w.banned_until > now else 1}
                for w in self.webhooks.values()
            ]

    def remove(self, webhook_id: int) -> bool:
        """Delete a webhook and its queued deliveries; ``False`` if there is no such webhook."""
        with self._condition:
            if self.webhooks.pop(webhook_id, None) is None:
                return False
            self._queue = [a for a in self._queue if a.webhook_id != webhook_id]
            self._condition.notify_all()
            return True

    # --- events ----------------------------------------------------------------------------------

    def publish(self, event: RecordEvent) -> None:
        """Queue one payload per matching webhook (a no-op while there are none)."""
        if not self.webhooks:
            return
        entity = ENTITIES[event.kind]
        with self._condition:
            now = time.monotonic()
            matching = [w for w in self.webhooks.values() if w.wants(entity, event.action)]
            if not matching:
                return
            body = payload(
                event, self.custom_fields.get(event.kind, []), self.user_id, self.permitted_user_ids
            )
            for webhook in matching:
                if webhook.banned_until > now:
                    webhook.dropped_while_banned += 1
                    continue
                meta = body["meta"] | {
                    "webhook_id": str(webhook.record["id"]),
                    "webhook_owner_id": str(webhook.record["owner_id"]),
                }
                attempt = _Attempt(
                    now, next(self._order), webhook.record["id"], {**body, "meta": meta}
                )
                self._queue.append(attempt)
            self._start_workers()
            self._condition.notify_all()

    def pending(self) -> int:
        """Deliveries queued, waiting for a retry or in flight."""
        with self._condition:
            return len(self._queue) + len(self._busy)

    def configure(self, settings: dict[str, Any]) -> DeliveryConfig:
        """Change the schedule (``retry_delays``, ``timeout``, ``ban_after``, ``ban_seconds``)."""
        with self._condition:
            values = asdict(self.config) | settings
            self.config = DeliveryConfig(
                retry_delays=tuple(values["retry_delays"]),
                timeout=values["timeout"],
                ban_after=values["ban_after"],
                ban_seconds=values["ban_seconds"],
            )
            if "ban_seconds" in settings:
                for webhook in self.webhooks.values():
                    webhook.banned_until = 0.0
            return self.config

    def report(self) -> dict[str, Any]:
        """What the control API shows: schedule, pending, per-webhook counters, recent attempts."""
        with self._condition:
            now = time.monotonic()
            return {
                "config": asdict(self.config),
                "pending": len(self._queue) + len(self._busy),
                "webhooks": [
                    {
                        "id": w.record["id"],
                        "event_object": w.record["event_object"],
                        "event_action": w.record["event_action"],
                        "subscription_url": w.record["subscription_url"],
                        "delivered": w.delivered,
                        "failed_attempts": w.failed_attempts,
                        "given_up": w.given_up,
                        "dropped_while_banned": w.dropped_while_banned,
                        "first_try_failures_in_a_row": w.first_try_failures_in_a_row,
                        "banned": w.banned_until > now,
                        "last_http_status": w.record["last_http_status"],
                        "last_delivery_time": w.record["last_delivery_time"],
                    }
                    for w in self.webhooks.values()
                ],
                "attempts": list(self.attempt_log),
            }

    # --- workers ---------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        while len(self._threads) < WORKERS:
            thread = threading.Thread(target=self._work, name="webhook-delivery", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _next_due(self) -> _Attempt:
        """The earliest due attempt of a webhook with nothing in flight (one at a time per
        webhook, so a webhook receives its events in order, retries aside)."""
        with self._condition:
            while True:
                ready = [a for a in self._queue if a.webhook_id not in self._busy]
                if not ready:
                    self._condition.wait()
                    continue
                attempt = min(ready)
                wait = attempt.due - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                self._queue.remove(attempt)
                self._busy.add(attempt.webhook_id)
                return attempt

    def _work(self) -> None:
        session = requests.Session()
        while True:
            attempt = self._next_due()
            try:
                self._deliver(session, attempt)
            finally:
                with self._condition:
                    self._busy.discard(attempt.webhook_id)
                    self._condition.notify_all()

    def _deliver(self, session: requests.Session, attempt: _Attempt) -> None:
        with self._condition:
            webhook = self.webhooks.get(attempt.webhook_id)
            if webhook is None:
                return
            record, timeout = dict(webhook.record), self.config.timeout
        body = {**attempt.body, "meta": attempt.body["meta"] | {"attempt": attempt.attempt}}
        status, error = _post(session, record, body, timeout)
        with self._condition:
            self._record(webhook, attempt, status, error)

    def _record(
        self, webhook: Webhook, attempt: _Attempt, status: int | None, error: str | None
    ) -> None:
        ok = status is not None and 200 <= status < 300  # noqa: PLR2004 - any 2xx
        meta = attempt.body["meta"]
        self.attempt_log.append(
            {
                "webhook_id": attempt.webhook_id,
                "event_id": meta["id"],
                "entity": meta["entity"],
                "entity_id": meta["entity_id"],
                "action": meta["action"],
                "attempt": attempt.attempt,
                "http_status": status,
                "error": error,
                "ok": ok,
            }
        )
        webhook.record["last_delivery_time"] = _stamp(self.clock.now())
        webhook.record["last_http_status"] = status
        if ok:
            webhook.delivered += 1
            if attempt.attempt == 1:
                webhook.first_try_failures_in_a_row = 0
            return
        webhook.failed_attempts += 1
        if attempt.attempt == 1:
            webhook.first_try_failures_in_a_row += 1
            if webhook.first_try_failures_in_a_row >= self.config.ban_after:
                webhook.banned_until = time.monotonic() + self.config.ban_seconds
                webhook.first_try_failures_in_a_row = 0
        delays = self.config.retry_delays
        if attempt.attempt > len(delays) or attempt.webhook_id not in self.webhooks:
            webhook.given_up += 1
            return
        retry = _Attempt(
            time.monotonic() + delays[attempt.attempt - 1],
            next(self._order),
            attempt.webhook_id,
            attempt.body,
            attempt.attempt + 1,
        )
        self._queue.append(retry)


def _post(
    session: requests.Session, record: dict[str, Any], body: dict[str, Any], timeout: float
) -> tuple[int | None, str | None]:
    """POST one delivery; the HTTP status, or ``None`` and why there was none."""
    user, password = record["http_auth_user"], record["http_auth_password"]
    auth = (user, password or "") if user else None
    try:
        response = session.post(
            record["subscription_url"],
            json=body,
            auth=auth,
            timeout=timeout,
            allow_redirects=False,
            headers={"User-Agent": "Pipedrive Webhooks"},
        )
    except requests.Timeout:
        return None, "timeout"
    except requests.RequestException as exc:
        return None, type(exc).__name__
    response.close()
    return response.status_code, None


def _stamp(ts: int) -> str:
    return timefmt.v2(ts).removesuffix("Z") + ".000Z"
