"""Deliveries, a receiver subprocess and a scripted Pipedrive webhooks API for the tests.

Test modules import from here, never from ``conftest`` (two test directories' conftests share
that module name when pytest runs them together).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import yaml
from jsonschema import Draft4Validator

ROOT = Path(__file__).resolve().parents[2]
SPEC_V1 = ROOT / "spec" / "pipedrive-openapi" / "v1.yaml"
USER = "pipedrive"
PASSWORD = "s3cret-webhook-password"
API_TOKEN = "tok-9f8e7d6c5b4a"


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    """An ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def delivery(
    event_id: str | None = None,
    *,
    action: str = "change",
    entity: str = "person",
    entity_id: str = "8",
    attempt: int = 1,
) -> dict[str, Any]:
    """A webhook v2 delivery shaped like PD-GUIDE's example (notes §8)."""
    data = {"id": int(entity_id), "name": "Ada", "update_time": "2026-11-24T13:18:55Z"}
    return {
        "meta": {
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "company_id": "77",
            "correlation_id": str(uuid.uuid4()),
            "id": event_id or str(uuid.uuid4()),
            "is_bulk_edit": False,
            "timestamp": "2026-11-24T13:18:55.665Z",
            "type": "general",
            "user_id": "5",
            "version": "2.0",
            "webhook_id": "12",
            "webhook_owner_id": "5",
            "change_source": "app",
            "attempt": attempt,
            "host": "acme.pipedrive.com",
            "permitted_user_ids": ["5"],
        },
        "data": None if action == "delete" else data,
        "previous": data
        if action == "delete"
        else ({"name": "Ad"} if action == "change" else None),
    }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningReceiver:
    """A ``pipedrive-webhooks serve`` subprocess."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        """Everything it wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def receiver_env(spool_url: str, **settings: Any) -> dict[str, str]:
    """The environment of a receiver subprocess: settings as PIPEDRIVE_WEBHOOKS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDRIVE_WEBHOOKS_")}
    values = {
        "spool_url": spool_url,
        "auth_user": USER,
        "auth_password": PASSWORD,
        "apply_command": "",
        **settings,
    }
    env.update({f"PIPEDRIVE_WEBHOOKS_{k.upper()}": str(v) for k, v in values.items()})
    return env


def start_receiver(
    tmp_path: Path, spool_url: str, port: int | None = None, **settings: Any
) -> RunningReceiver:
    """Start ``python -m pipedrive_webhooks serve`` and wait until ``/health`` answers."""
    port = port or free_port()
    log_path = tmp_path / f"receiver-{port}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipedrive_webhooks", "serve", "--port", str(port)],
            env=receiver_env(spool_url, **settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"receiver exited {process.returncode}: {log_path.read_text()}"
            raise RuntimeError(msg)
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return RunningReceiver(process, url, log_path)
        time.sleep(0.1)
    process.kill()
    msg = f"receiver did not start: {log_path.read_text()}"
    raise RuntimeError(msg)


@cache
def spec_v1() -> dict[str, Any]:
    """Pipedrive's v1 OpenAPI document."""
    return yaml.safe_load(SPEC_V1.read_text())


def add_webhook_request_validator() -> Draft4Validator:
    """The spec's ``addWebhookRequest`` schema (OpenAPI 3.0: nullable is allowed by hand)."""
    schema = spec_v1()["paths"]["/webhooks"]["post"]["requestBody"]["content"]["application/json"]
    schema = json.loads(json.dumps(schema["schema"]))
    for prop in schema["properties"].values():
        if prop.pop("nullable", False):
            prop["type"] = [prop["type"], "null"]
    return Draft4Validator(schema)


@dataclass
class FakeWebhooksApi:
    """Pipedrive's ``/api/v1/webhooks`` as the spec shapes it, with state, on a local port.

    ``webhooks`` is the company's list (``BaseWebhook`` objects). Every request is recorded
    as ``(method, path, headers, json body)``; a POST body that does not validate against the
    spec's ``addWebhookRequest`` is answered 400 and recorded in ``invalid``. ``fail`` maps a
    ``(method, path)`` to a scripted ``(status, body)`` or ``(status, body, headers)`` answer.
    """

    webhooks: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    fail: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    token: str = API_TOKEN
    oauth: dict[str, Any] | None = None
    url: str = ""
    next_id: int = 100

    def calls(self, method: str) -> list[tuple[str, str, dict[str, str], Any]]:
        """The requests made with ``method``."""
        return [call for call in self.requests if call[0] == method]

    def authorized(self, headers: dict[str, str]) -> bool:
        """The x-api-token header, or a Bearer token the fake OAuth endpoint issued."""
        if headers.get("x-api-token") == self.token:
            return True
        return bool(self.oauth) and headers.get("authorization") == (
            f"Bearer {self.oauth['access_token']}"
        )

    def answer(  # noqa: PLR0911 - one return per scripted route
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[Any, ...]:
        """Pipedrive's answer, following SPEC v1 getWebhooks/addWebhook/deleteWebhook."""
        self.requests.append((method, path, headers, body))
        if path == "/oauth/token" and self.oauth:
            return 200, {**self.oauth, "token_type": "bearer", "expires_in": 3599}
        if (method, path) in self.fail:
            return self.fail[(method, path)]
        if not self.authorized(headers):
            return 401, {"success": False, "error": "unauthorized access", "errorCode": 401}
        if path == "/api/v1/webhooks" and method == "GET":
            return 200, {"status": "ok", "success": True, "data": self.webhooks}
        if path == "/api/v1/webhooks" and method == "POST":
            errors = [e.message for e in add_webhook_request_validator().iter_errors(body)]
            if errors:
                self.invalid.extend(errors)
                return 400, {"status": "error", "success": False, "errors": {"body": errors}}
            self.next_id += 1
            hook = {
                "id": self.next_id,
                "company_id": 77,
                "owner_id": 5,
                "user_id": body.get("user_id", 5),
                "event_action": body["event_action"],
                "event_object": body["event_object"],
                "subscription_url": body["subscription_url"],
                "version": body.get("version", "2.0"),
                "is_active": 1,
                "add_time": "2026-12-01T08:00:00.000Z",
                "remove_time": None,
                "type": "general",
                "http_auth_user": body.get("http_auth_user"),
                "http_auth_password": body.get("http_auth_password"),
                "remove_reason": None,
                "last_delivery_time": None,
                "last_http_status": None,
                "admin_id": 5,
                "name": body["name"],
            }
            self.webhooks.append(hook)
            return 201, {"status": "ok", "success": True, "data": hook}
        if path.startswith("/api/v1/webhooks/") and method == "DELETE":
            webhook_id = int(path.rsplit("/", 1)[1])
            if not any(hook["id"] == webhook_id for hook in self.webhooks):
                return 404, {"status": "error", "success": False, "errors": {"id": ["not found"]}}
            self.webhooks = [hook for hook in self.webhooks if hook["id"] != webhook_id]
            return 200, {"status": "ok", "success": True}
        return 404, {"success": False, "error": "Not found"}


@contextlib.contextmanager
def fake_webhooks_api(api: FakeWebhooksApi | None = None) -> Iterator[FakeWebhooksApi]:
    """Serve a ``FakeWebhooksApi`` on a free local port for the duration of the block."""
    api = api or FakeWebhooksApi()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            content_type = self.headers.get("Content-Type", "")
            if raw and "json" in content_type:
                body: Any = json.loads(raw)
            else:
                body = dict(parse_qsl(raw.decode())) if raw else None
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer, *extra = api.answer(method, urlsplit(self.path).path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def do_DELETE(self) -> None:
            self._reply("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
