"""Running tap-pipedrive in tests: in-process or through its CLI, and reading its messages.

Test modules import from here, never from ``conftest`` (two test directories' conftests share
that module name when pytest runs them together).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tap_pipedrive.tap import TapPipedrive

TAP_EXECUTABLE = str(Path(sys.executable).with_name("tap-pipedrive"))
SHARED: dict[str, Any] = {}
"""``SHARED["sandbox"]``: the read-only sandbox ``conftest.pytest_configure`` starts."""


def sandbox_config(sandbox: Any, **settings: Any) -> dict[str, Any]:
    """Tap settings pointing at a running sandbox (fast retries for fault tests)."""
    return {
        "api_token": sandbox.api_token,
        "api_url": sandbox.base_url,
        "retry_base_delay": 0.01,
        **settings,
    }


@dataclass
class TapRun:
    """The Singer messages of one run, sorted out."""

    messages: list[dict[str, Any]]
    stderr: str = ""
    returncode: int = 0
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    versions: dict[str, list[int | None]] = field(default_factory=lambda: defaultdict(list))
    activated: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    states: list[dict[str, Any]] = field(default_factory=list)
    tap: TapPipedrive | None = None

    def __post_init__(self) -> None:
        for message in self.messages:
            kind = message["type"]
            if kind == "RECORD":
                self.records[message["stream"]].append(message["record"])
                self.versions[message["stream"]].append(message.get("version"))
            elif kind == "ACTIVATE_VERSION":
                self.activated[message["stream"]].append(message["version"])
            elif kind == "STATE":
                self.states.append(message["value"])

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE."""
        return self.states[-1] if self.states else {}

    def ids(self, stream: str) -> list[Any]:
        """Primary keys of a stream's records, in order."""
        key = {"api_usage": "run_id"}.get(
            stream, "field_code" if stream.endswith("_fields") else "id"
        )
        return [record[key] for record in self.records[stream]]


def parse_messages(text: str) -> list[dict[str, Any]]:
    """Singer messages from the tap's stdout."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def catalog_for(config: dict[str, Any], streams: set[str] | None = None) -> dict[str, Any]:
    """The discovered catalog with exactly ``streams`` selected (None: the default selection)."""
    catalog = TapPipedrive(config=config).catalog_dict
    if streams is not None:
        for entry in catalog["streams"]:
            for item in entry["metadata"]:
                if item["breadcrumb"] == []:
                    item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> TapRun:
    """Run a sync in this process (as the CLI does) and collect its messages."""
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(stderr):
        tap = TapPipedrive(config=config, state=copy.deepcopy(state), catalog=catalog)
        tap.run_sync()
        buffer.flush()
    buffer.seek(0)
    return TapRun(parse_messages(buffer.read()), stderr=stderr.getvalue(), tap=tap)


def run_cli(
    tmp_path: Path,
    config: dict[str, Any],
    *args: str,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    timeout: float = 120,
) -> TapRun:
    """Run the ``tap-pipedrive`` executable and collect its messages, stderr and exit code."""
    command = [TAP_EXECUTABLE, "--config", _write(tmp_path / "config.json", config)]
    if state is not None:
        command += ["--state", _write(tmp_path / "state.json", state)]
    if catalog is not None:
        command += ["--catalog", _write(tmp_path / "catalog.json", catalog)]
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    messages = parse_messages(result.stdout) if "--discover" not in args else []
    return TapRun(messages, stderr=result.stderr, returncode=result.returncode)


def _write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def by_id(records: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Records keyed by id (the last one wins, as an upserting target would)."""
    return {record["id"]: record for record in records}


@dataclass
class FakeApi:
    """A scripted HTTP server for situations the spec allows but the sandbox never produces.

    ``routes`` maps a URL path to the answers for it, ``(status, body, headers)``, served in
    order; the last one repeats. A dict body is sent as JSON, a str as HTML, bytes as they are
    (as JSON: a body no JSON encoder would write). Every request is recorded as
    ``(method, path, query)``.
    """

    routes: dict[str, list[tuple[int, Any, dict[str, str]]]]
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def answer(self, method: str, target: str) -> tuple[int, Any, dict[str, str]]:
        """The next scripted answer for ``target`` (404 for an unknown path)."""
        parts = urlsplit(target)
        self.requests.append((method, parts.path, dict(parse_qsl(parts.query))))
        answers = self.routes.get(parts.path)
        if not answers:
            return 404, {"success": False, "error": "Not found"}, {}
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def paths(self, method: str = "GET") -> list[str]:
        """The paths requested with ``method``, in order."""
        return [path for verb, path, _ in self.requests if verb == method]


@contextlib.contextmanager
def fake_api(routes: dict[str, list[tuple[int, Any, dict[str, str]]]]) -> Iterator[FakeApi]:
    """Serve ``routes`` on a free local port for the duration of the block."""
    api = FakeApi(routes)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, body, headers = api.answer(method, self.path)
            if isinstance(body, bytes):
                raw = body
            else:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            kind = "text/html" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", kind)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def v2_page(data: list[dict[str, Any]], next_cursor: str | None = None) -> dict[str, Any]:
    """An API v2 list response body."""
    return {"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}}
