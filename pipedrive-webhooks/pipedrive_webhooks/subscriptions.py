"""Which webhooks to create and delete so Pipedrive delivers what the tap syncs, exactly once.

Pipedrive has no update operation for webhooks (only ``GET``/``POST``/``DELETE /v1/webhooks``),
so a subscription with the wrong version, credentials user or state is deleted and created
again. A subscription is ours when its ``subscription_url`` is ours; of ours, one active
version 2.0 ``*`` subscription per wanted object with our Basic auth user is kept, anything else
(duplicates, other objects, inactive or banned ones, 1.0) is deleted. Creating before deleting
keeps a moment of double delivery (deduplicated downstream by upsert) rather than a gap.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# event_object values of SPEC v1 addWebhookRequest, without the wildcard.
WEBHOOK_OBJECTS = (
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
)
# The objects tap-pipedrive syncs that have webhooks (its persons, organizations, deals,
# activities, notes, users, pipelines and stages streams).
DEFAULT_OBJECTS = (
    "activity",
    "deal",
    "note",
    "organization",
    "person",
    "pipeline",
    "stage",
    "user",
)
WEBHOOK_VERSION = "2.0"
NAME_PREFIX = "pipedrive-webhooks"


@dataclass(frozen=True)
class Subscriber:
    """Who we subscribe: the URL, its Basic credentials, the objects, whose permissions."""

    url: str
    auth_user: str
    auth_password: str
    objects: Sequence[str] = DEFAULT_OBJECTS
    user_id: int | None = None

    def __repr__(self) -> str:
        """Never the password."""
        return f"Subscriber(url={self.url!r}, auth_user={self.auth_user!r}, ...)"


@dataclass
class Plan:
    """Request bodies to POST, existing webhooks to keep and to DELETE."""

    create: list[dict[str, Any]] = field(default_factory=list)
    keep: list[Mapping[str, Any]] = field(default_factory=list)
    delete: list[Mapping[str, Any]] = field(default_factory=list)


def same_url(a: str | None, b: str) -> bool:
    """Whether two subscription URLs are the same (a trailing slash aside)."""
    return a is not None and a.rstrip("/") == b.rstrip("/")


def ours(webhooks: Iterable[Mapping[str, Any]], url: str) -> list[Mapping[str, Any]]:
    """The webhooks that deliver to ``url``."""
    return [hook for hook in webhooks if same_url(hook.get("subscription_url"), url)]


def create_request(subscriber: Subscriber, event_object: str) -> dict[str, Any]:
    """The ``POST /v1/webhooks`` body (SPEC v1 ``addWebhookRequest``) for one object."""
    body: dict[str, Any] = {
        "subscription_url": subscriber.url,
        "event_action": "*",
        "event_object": event_object,
        "name": f"{NAME_PREFIX}: {event_object}",
        "version": WEBHOOK_VERSION,
        "http_auth_user": subscriber.auth_user,
        "http_auth_password": subscriber.auth_password,
    }
    if subscriber.user_id is not None:
        body["user_id"] = subscriber.user_id
    return body


def _is_current(hook: Mapping[str, Any], subscriber: Subscriber) -> bool:
    password = hook.get("http_auth_password")
    password_ok = password is None or hmac.compare_digest(
        str(password).encode(), subscriber.auth_password.encode()
    )
    user_ok = subscriber.user_id is None or hook.get("user_id") == subscriber.user_id
    return (
        hook.get("event_action") == "*"
        and hook.get("event_object") in subscriber.objects
        and str(hook.get("version")) == WEBHOOK_VERSION
        and hook.get("is_active") in (1, True)
        and hook.get("http_auth_user") == subscriber.auth_user
        and password_ok
        and user_ok
    )


def plan(existing: Iterable[Mapping[str, Any]], subscriber: Subscriber) -> Plan:
    """What to create and delete so exactly one current subscription per object remains."""
    result = Plan()
    covered: set[str] = set()
    for hook in ours(existing, subscriber.url):
        if _is_current(hook, subscriber) and hook["event_object"] not in covered:
            covered.add(hook["event_object"])
            result.keep.append(hook)
        else:
            result.delete.append(hook)
    result.create = [
        create_request(subscriber, name) for name in subscriber.objects if name not in covered
    ]
    return result
