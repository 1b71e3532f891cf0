"""A webhook receiver for the sandbox's delivery tests: records every POST (time, headers, JSON
body) and answers from a script of statuses (``None`` in the script: answer after ``delay``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    """One delivery as the receiver saw it."""

    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Recorder:
    """What was received, and how to answer: ``statuses`` in order, then ``default_status``."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        """The scripted status of the next delivery."""
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default_status

    def bodies(self) -> list[dict[str, Any]]:
        """Every received body, in arrival order."""
        with self.lock:
            return [r.body for r in self.received]


@contextmanager
def webhook_recorder(**options: Any) -> Iterator[Recorder]:
    """Run a recorder on a free loopback port until the block exits."""
    recorder = Recorder(**options)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = orjson.loads(self.rfile.read(length))
            with recorder.lock:
                recorder.received.append(
                    Received(time.monotonic(), self.path, dict(self.headers.items()), body)
                )
            status = recorder.next_status()
            if recorder.delay:
                time.sleep(recorder.delay)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
