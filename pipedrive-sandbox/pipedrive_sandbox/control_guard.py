"""Who may call the control API, and write through the Pipedrive API: no web page, and writes
only as JSON.

The control API has no token (tests drive it), so any page open in a browser on the same
machine could otherwise reset, fault or delete sandbox data: a cross-origin
``fetch(url, {method: "POST", mode: "no-cors", body})`` with a ``text/plain`` body needs no
CORS preflight. Browsers name the calling page in ``Origin`` on such requests, and cannot send
``Content-Type: application/json`` cross-origin without a preflight the sandbox never answers.
So a foreign ``Origin`` is refused (403) and a write whose body is not declared JSON (415).
Clients that are not browsers (requests, curl) send no ``Origin`` and are unaffected.

The sandbox's Pipedrive API is guarded the same way on its write routes: its token is a public
constant (``sandbox-token``), so a page could otherwise create, change, delete or merge records
and register webhooks with it in the query. Pipedrive's API is reached by servers, not browsers,
in this project; its reads stay open (a page cannot read a cross-origin answer without CORS).
"""

from __future__ import annotations

from email.message import Message

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # noqa: S104 - names of a wildcard bind, not a bind
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def own_origins(host: str, port: int) -> frozenset[str]:
    """The origins of the sandbox at ``host:port``; a loopback or wildcard bind answers on
    every loopback name."""
    hosts = {host}
    if host in LOOPBACK_HOSTS or host in WILDCARD_HOSTS:
        hosts.update(LOOPBACK_HOSTS)
    origins = set()
    for name in hosts - set(WILDCARD_HOSTS):
        netloc = f"[{name}]" if ":" in name else name
        origins.add(f"http://{netloc}:{port}".lower())
        if port == 80:  # noqa: PLR2004 - a default port is left out of an Origin
            origins.add(f"http://{netloc}".lower())
    return frozenset(origins)


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<something>+json``, parameters allowed."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def refusal(
    method: str,
    headers: Message,
    body: bytes,
    origins: frozenset[str],
    service: str = "the control API",
) -> tuple[int, str] | None:
    """Why a request to ``service`` is refused, as (status, message); None when it may
    proceed."""
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() not in origins:
        return (
            403,
            f"cross-origin request refused: Origin '{origin}' is not this sandbox's "
            f"({', '.join(sorted(origins))}); {service} is for tests and local tools, "
            "call it without an Origin header",
        )
    content_type = headers.get("content-type")
    if method in WRITE_METHODS and (body or content_type) and not is_json(content_type or ""):
        named = f"Content-Type '{content_type}'" if content_type else "no Content-Type"
        return (
            415,
            f"{method} with {named} refused: send writes to {service} as a JSON object with "
            "Content-Type: application/json",
        )
    return None
