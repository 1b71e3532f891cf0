"""The sandbox application: one request in, one reply out, independent of the HTTP server.

Order of work for an API request: web-page guard on writes (``control_guard``) -> route ->
faults -> auth -> rate limit -> OAuth scope -> handler -> body faults -> stats. The control API
(``/_sandbox/...``, with the same guard on every request) and ``/oauth/token`` bypass all of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus

import orjson

from pipedrive_sandbox import (
    api_history,
    api_leads,
    api_search,
    api_v1,
    api_v2,
    api_webhooks,
    api_writes,
    control,
    control_guard,
)
from pipedrive_sandbox.auth import identify
from pipedrive_sandbox.clock import SandboxClock, default_anchor
from pipedrive_sandbox.config import SandboxConfig
from pipedrive_sandbox.errors import SCOPE_MISMATCH, UNAUTHORIZED_BODY, ApiError, error_body
from pipedrive_sandbox.faults import FaultInjector
from pipedrive_sandbox.leads import LeadBook
from pipedrive_sandbox.oauth import OAuthServer
from pipedrive_sandbox.ratelimit import RateLimiter
from pipedrive_sandbox.routing import Request, Response, Router
from pipedrive_sandbox.stats import Stats
from pipedrive_sandbox.store import Store
from pipedrive_sandbox.webhook_delivery import WebhookDelivery

CLOUDFLARE_403 = (
    b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
    b"<body><h1>Sorry, you have been blocked</h1><p>This error is produced by Cloudflare."
    b"</p></body></html>"
)


@dataclass
class Reply:
    """What the HTTP layer sends: status, headers, body; or nothing at all (``drop``)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop: bool = False
    delay: float = 0.0


def build_router() -> Router:
    """Every served operation, by spec path template."""
    router = Router()
    for template in api_v2.LISTS:
        router.add("v2", "GET", template, api_v2.list_entities)
    # before /persons/{id}, which would take "search" for an id
    router.add("v2", "GET", "/persons/search", api_search.search_persons)
    for template in ("/persons/{id}", "/organizations/{id}", "/deals/{id}", "/activities/{id}"):
        router.add("v2", "GET", template, api_v2.get_entity)
    for template in ("/personFields", "/organizationFields", "/dealFields", "/activityFields"):
        router.add("v2", "GET", template, api_v2.list_fields)
    router.add("v2", "GET", "/pipelines", api_v2.list_pipelines)
    router.add("v2", "GET", "/stages", api_v2.list_stages)
    router.add("v1", "GET", "/notes", api_v1.list_notes)
    router.add("v1", "GET", "/notes/{id}", api_v1.get_note)
    router.add("v1", "GET", "/noteFields", api_v1.list_note_fields)
    router.add("v1", "GET", "/activityFields", api_v1.list_activity_fields)
    router.add("v1", "GET", "/users", api_v1.list_users)
    router.add("v1", "GET", "/users/me", api_v1.current_user)
    router.add("v1", "GET", "/activityTypes", api_v1.list_activity_types)
    router.add("v1", "GET", "/recents", api_history.list_recents)
    router.add("v1", "GET", "/persons/{id}/changelog", api_history.person_changelog)
    router.add("v1", "GET", "/deals/{id}/changelog", api_history.deal_changelog)
    for collection in ("/persons", "/organizations", "/deals", "/activities"):
        router.add("v2", "POST", collection, api_writes.create_entity)
        router.add("v2", "PATCH", f"{collection}/{{id}}", api_writes.update_entity)
        router.add("v2", "DELETE", f"{collection}/{{id}}", api_writes.delete_entity)
    router.add("v1", "POST", "/notes", api_writes.create_note)
    router.add("v1", "PUT", "/notes/{id}", api_writes.update_note)
    router.add("v1", "DELETE", "/notes/{id}", api_writes.delete_note)
    router.add("v1", "PUT", "/persons/{id}/merge", api_writes.merge_entity)
    router.add("v1", "PUT", "/organizations/{id}/merge", api_writes.merge_entity)
    router.add("v1", "GET", "/leads", api_leads.list_leads)
    router.add("v1", "GET", "/leads/archived", api_leads.list_archived_leads)
    router.add("v1", "GET", "/leads/{id}", api_leads.get_lead)
    router.add("v1", "POST", "/leads", api_leads.create_lead)
    router.add("v1", "PATCH", "/leads/{id}", api_leads.update_lead)
    router.add("v1", "DELETE", "/leads/{id}", api_leads.delete_lead)
    router.add("v2", "POST", "/leads/{id}/convert/deal", api_leads.convert_lead)
    router.add(
        "v2", "GET", "/leads/{id}/convert/status/{conversion_id}", api_leads.conversion_status
    )
    router.add("v1", "GET", "/webhooks", api_webhooks.list_webhooks)
    router.add("v1", "POST", "/webhooks", api_webhooks.add_webhook)
    router.add("v1", "DELETE", "/webhooks/{id}", api_webhooks.delete_webhook)
    return router


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(body), headers or {})


class Sandbox:
    """State and behaviour of one running sandbox."""

    def __init__(self, config: SandboxConfig) -> None:
        started = time.perf_counter()
        self.config = config
        anchor = config.anchor if config.anchor is not None else default_anchor()
        self.anchor = anchor
        start = anchor if config.anchor is not None else max(anchor, int(time.time()))
        self.clock = SandboxClock(start, frozen=config.frozen_clock)
        self.store = Store(
            config.seed, config.scale, anchor, self.clock, marketing_app=config.marketing_app
        )
        self.webhooks = WebhookDelivery(
            self.clock, self.store.custom_fields, self.store.catalog.user_ids
        )
        self.store.observer = self.webhooks.publish
        self.leads = LeadBook(self.store)
        self.router = build_router()
        self.stats = Stats()
        self.limiter = RateLimiter(
            self.clock,
            burst_limit=config.burst_limit,
            window=config.burst_window,
            daily_budget=config.daily_budget,
        )
        self.faults = FaultInjector(config.faults, config.fault_seed)
        self.oauth = OAuthServer(config, self.clock)
        self.base_url = f"http://{config.host}:{config.port}"
        self.startup_seconds = time.perf_counter() - started

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Message, body: bytes
    ) -> Reply:
        """Answer one HTTP request."""
        if path.startswith(control.PREFIX):
            response = control.handle(self, method, path, query, headers, body)
            return _json(response.status, response.body)
        if path == "/oauth/token" and method == "POST":
            response = self.oauth.token(headers.get("authorization"), body, self.base_url)
            return _json(response.status, response.body)
        if method in control_guard.WRITE_METHODS:
            origins = control_guard.own_origins(self.config.host, self.config.port)
            refused = control_guard.refusal(method, headers, body, origins, "the sandbox's API")
            if refused is not None:
                status, message = refused
                return _json(status, error_body(message))
        return self._api(method, path, query, headers, body)

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Message, body: bytes
    ) -> Reply:
        matched = self.router.match(method, path)
        if not matched:
            status, message = (
                (405, "Method not allowed") if matched is False else (404, "Unknown method .")
            )
            self.stats.record(f"{method} (unmatched)", status, 0)
            return _json(status, error_body(message), self.limiter.headers_for("anonymous"))
        route, params = matched
        delay, reply, body_faults = self._faults_before(path)
        if reply is not None:
            self.stats.record(route.operation, reply.status, 0)
            reply.delay = delay
            return reply
        identity = identify(headers, query, self.config, self.oauth)
        if identity is None:
            self.stats.record(route.operation, 401, 0)
            return _json(401, UNAUTHORIZED_BODY, self.limiter.headers_for("anonymous"))
        decision = self.limiter.check(identity, route.cost)
        if not decision.allowed:
            self.stats.limited(decision.reason or "")
            self.stats.record(route.operation, 429, 0)
            rate_headers = dict(decision.headers)
            if self.config.retry_after:
                rate_headers["retry-after"] = str(decision.retry_after)
            message = (
                "Request over limit"
                if decision.reason == "burst"
                else "Daily API token budget exhausted; it resets at midnight UTC"
            )
            return Reply(429, orjson.dumps(error_body(message)), rate_headers, delay=delay)
        if identity == "oauth" and not self.oauth.grants(route.scopes):
            self.stats.record(route.operation, 403, route.cost)
            body = orjson.dumps(error_body(SCOPE_MISMATCH))
            return Reply(403, body, dict(decision.headers), delay=delay)
        request = Request(
            method, path, query, headers, body, self, params, route.version, route.template
        )
        try:
            response = route.handler(request)
        except ApiError as exc:
            response = Response(exc.status, exc.body())
        self.stats.record(route.operation, response.status, route.cost)
        reply = Reply(
            response.status,
            response.raw if response.raw is not None else orjson.dumps(response.body),
            {**decision.headers, **response.headers},
            delay=delay,
        )
        return _spoil_body(reply, body_faults)

    def _faults_before(self, path: str) -> tuple[float, Reply | None, list[str]]:
        """Faults that replace the answer or delay it; the body faults to apply later."""
        fired = self.faults.pick(path)
        delay = 0.0
        for rule in fired:
            self.stats.fault(rule.kind)
            if rule.kind == "slow":
                delay = rule.seconds
            elif rule.kind == "drop":
                return delay, Reply(0, b"", drop=True), []
            elif rule.kind == "rate_limit":
                headers = self.limiter.headers_for("api-token")
                headers |= {"x-ratelimit-remaining": "0"}
                return delay, _json(429, error_body("Request over limit"), headers), []
            elif rule.kind == "server_error":
                status = self.faults.server_status(rule)
                return delay, _json(status, error_body("Requested service is not available")), []
            elif rule.kind == "html_403":
                html = Reply(403, CLOUDFLARE_403, content_type="text/html; charset=UTF-8")
                return delay, html, []
        return delay, None, [r.kind for r in fired if r.kind in ("truncate", "null_body")]


def _spoil_body(reply: Reply, body_faults: list[str]) -> Reply:
    """Faults that spoil a successful answer's body (still valid HTTP)."""
    if reply.status != HTTPStatus.OK or not body_faults:
        return reply
    if "null_body" in body_faults:
        reply.body = b"null"
    else:
        reply.body = reply.body[: max(1, len(reply.body) // 2)]
    return reply
