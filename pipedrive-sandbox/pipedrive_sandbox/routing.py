"""Requests, responses and the route table: which handler serves which (method, path)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any

from pipedrive_sandbox.spec_tables import OAUTH_SCOPES, TOKEN_COSTS

if TYPE_CHECKING:
    from pipedrive_sandbox.app import Sandbox


@dataclass
class Request:
    """One API request as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    sandbox: Sandbox
    params: dict[str, str] = field(default_factory=dict)
    version: str = ""
    template: str = ""


@dataclass
class Response:
    """A JSON response (``body`` is serialised by the server); ``raw`` bypasses JSON."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """One operation: API version, method, spec path template, handler."""

    version: str
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]

    @property
    def cost(self) -> int:
        """Rate-limit token cost (``x-token-cost`` of the spec)."""
        return TOKEN_COSTS[(self.version, self.method, self.template)]

    @property
    def scopes(self) -> tuple[str, ...]:
        """OAuth scopes, any one of which allows the call (the spec's ``security``)."""
        return OAUTH_SCOPES.get((self.version, self.method, self.template), ())

    @property
    def operation(self) -> str:
        """A readable operation name for stats: ``GET /api/v2/persons``."""
        return f"{self.method} /api/{self.version}{self.template}"


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{regex}$")


class Router:
    """Matches ``/api/v2/...``, ``/api/v1/...`` and the legacy ``/v1/...`` prefix."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, version: str, method: str, template: str, handler: Handler) -> None:
        """Register a handler; the (version, method, template) must exist in the spec."""
        if (version, method, template) not in TOKEN_COSTS:
            raise KeyError(f"{method} {version}{template} is not an operation of the spec")
        self.routes.append(Route(version, method, template, handler, _compile(template)))

    @staticmethod
    def split(path: str) -> tuple[str, str] | None:
        """``/api/v2/persons`` -> (``v2``, ``/persons``); ``None`` if not an API path."""
        for prefix, version in (("/api/v2/", "v2"), ("/api/v1/", "v1"), ("/v1/", "v1")):
            if path.startswith(prefix):
                return version, path[len(prefix) - 1 :]
        return None

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None | bool:
        """The route and path parameters; ``False`` if the path exists with another method."""
        split = self.split(path)
        if split is None:
            return None
        version, rest = split
        path_known = False
        for route in self.routes:
            if route.version != version:
                continue
            found = route.pattern.match(rest)
            if found:
                if route.method == method:
                    return route, found.groupdict()
                path_known = True
        return False if path_known else None
