"""HTTP/1.1 keep-alive server on the standard library's ``ThreadingHTTPServer``.

The stdlib server gives direct control of the socket, which the faults need: a dropped
connection is a socket closed without a byte of response.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from pipedrive_sandbox.app import Sandbox


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading server that carries the sandbox application."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__((sandbox.config.host, sandbox.config.port), SandboxRequestHandler)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into ``Sandbox.handle`` calls."""

    protocol_version = "HTTP/1.1"
    server_version = "pipedrive-sandbox"
    server: SandboxHTTPServer

    def version_string(self) -> str:
        """The ``Server`` header."""
        return self.server_version

    def do_GET(self) -> None:
        """GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """POST."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """PATCH."""
        self._dispatch()

    def do_PUT(self) -> None:
        """PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """DELETE."""
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.sandbox.handle(self.command, url.path, query, self.headers, body)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Access log only in verbose mode (to stderr)."""
        if self.server.sandbox.config.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")
