"""The receiver: a Starlette app that spools Pipedrive webhook v2 deliveries.

Per delivery, in this order: Basic auth (401 without, nothing stored: anyone can knock), the
body size limit (413), the payload checks of ``payload.py`` (400), the durable write
(``writer.py``; 503 if it fails or takes too long, so Pipedrive retries), then 200. A 413 or 400
delivery is kept in the dead-letter table with its reason before the answer. Pipedrive treats
no answer within 10 s as a failure, so the write is awaited for at most ``ack_timeout``
seconds; an event committed after that is stored once anyway when Pipedrive retries it.

``POST`` is accepted on any path (the subscription URL's path is the user's choice, e.g. behind
a proxy); ``GET /health`` answers 200 without authentication and without information.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipedrive_webhooks.basic_auth import basic_auth_ok
from pipedrive_webhooks.debounce import Debounce
from pipedrive_webhooks.payload import MalformedPayloadError, parse_delivery
from pipedrive_webhooks.spool import Spool, masked_url, utc_now
from pipedrive_webhooks.trigger import ApplyTrigger
from pipedrive_webhooks.writer import GroupCommitWriter, SpoolWriteError

logger = logging.getLogger(__name__)

OK = Response(b'{"status":"ok"}', media_type="application/json")
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Basic realm="pipedrive-webhooks"'}


@dataclass(frozen=True)
class ReceiverSettings:
    """What ``serve`` needs (validated by ``settings.py``)."""

    spool_url: str
    auth_user: str
    auth_password: str
    max_body_bytes: int = 1_048_576
    ack_timeout: float = 8.0
    apply_command: tuple[str, ...] = ()
    apply_quiet_seconds: float = 5.0
    apply_max_wait_seconds: float = 60.0
    safety_net: str = ""

    def __repr__(self) -> str:
        """Never a password (the spool URL's is masked)."""
        spool = masked_url(self.spool_url)
        return f"ReceiverSettings(spool={spool!r}, auth_user={self.auth_user!r}, ...)"


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"status": "error", "error": message}, status, headers=headers)


async def _read_limited(request: Request, limit: int) -> tuple[bytes, int, bool]:
    """The body (at most ``limit`` bytes kept), the bytes received, and whether it was over."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return b"", int(declared), True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
            return b"".join(chunks), size, True
        chunks.append(chunk)
    return b"".join(chunks), size, False


class Receiver:
    """The request handling and the services it starts and stops (writer, trigger)."""

    def __init__(self, settings: ReceiverSettings, spool: Spool | None = None) -> None:
        """Open nothing yet: ``startup`` does, inside the server's event loop."""
        self.settings = settings
        self._own_spool = spool is None
        self.spool = spool
        self.writer: GroupCommitWriter | None = None
        self.trigger: ApplyTrigger | None = None

    async def startup(self) -> None:
        """Open the spool, start the writer and the trigger (catching up on unapplied events)."""
        settings = self.settings
        if self.spool is None:
            self.spool = await asyncio.to_thread(Spool, settings.spool_url)
        self.writer = GroupCommitWriter(self.spool)
        self.writer.start(asyncio.get_running_loop())
        logger.info(
            "Spooling Pipedrive webhook events to %s (body limit %d bytes)",
            self.spool.display_url,
            settings.max_body_bytes,
        )
        if not settings.apply_command:
            logger.info("apply_command is empty: events are only spooled, no job is started")
        else:
            self.trigger = ApplyTrigger(
                self.spool,
                settings.apply_command,
                Debounce(settings.apply_quiet_seconds, settings.apply_max_wait_seconds),
            )
            self.trigger.start()
            logger.info(
                "New events start `%s` after %.1f s without events (at most %.1f s after the "
                "first), one run at a time",
                shlex.join(settings.apply_command),
                settings.apply_quiet_seconds,
                settings.apply_max_wait_seconds,
            )
            unapplied = await asyncio.to_thread(self._unapplied_events)
            if unapplied:
                logger.info("%d spooled event(s) arrived after the last successful run", unapplied)
                self.trigger.notify(unapplied)
        if settings.safety_net:
            logger.info("Safety net for events missed while down: %s", settings.safety_net)

    def _unapplied_events(self) -> int:
        assert self.spool is not None
        last = self.spool.last_run()
        since = last.spool_position_at_start if last is not None and last.exit_code == 0 else 0
        return self.spool.count_after(since)

    async def shutdown(self) -> None:
        """Stop the trigger, commit what is queued, close the spool."""
        if self.trigger is not None:
            await self.trigger.stop()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        if self._own_spool and self.spool is not None:
            self.spool.close()

    async def _dead_letter(
        self, request: Request, status: int, reason: str, body: bytes, size: int
    ) -> Response:
        assert self.spool is not None
        client = request.client.host if request.client else "?"
        logger.warning("Refused a delivery from %s (HTTP %d): %s", client, status, reason)
        try:
            await asyncio.to_thread(
                self.spool.add_dead_letter,
                reason=reason,
                status_code=status,
                body=body,
                body_size=size,
                content_type=request.headers.get("content-type"),
                received_at=utc_now(),
            )
        except Exception as exc:  # noqa: BLE001 - answer 503 so the delivery is not lost
            logger.error(
                "Could not keep the refused delivery as a dead letter: %s", type(exc).__name__
            )
            return _json_error(503, "the spool is unavailable; retry later")
        return _json_error(status, reason)

    async def receive(self, request: Request) -> Response:
        """One delivery: authenticate, bound, check, store durably, answer."""
        settings = self.settings
        if not basic_auth_ok(
            request.headers.get("authorization"), settings.auth_user, settings.auth_password
        ):
            client = request.client.host if request.client else "?"
            logger.warning("Refused a delivery from %s: missing or wrong Basic credentials", client)
            return _json_error(401, "unauthorized", UNAUTHORIZED_HEADERS)
        body, size, too_large = await _read_limited(request, settings.max_body_bytes)
        if too_large:
            reason = (
                f"body of {size} bytes is over max_body_bytes ({settings.max_body_bytes}); the "
                f"first {len(body)} bytes are kept"
            )
            return await self._dead_letter(request, 413, reason, body, size)
        try:
            event = parse_delivery(body)
        except MalformedPayloadError as exc:
            return await self._dead_letter(request, 400, str(exc), body, size)
        assert self.writer is not None
        try:
            async with asyncio.timeout(settings.ack_timeout):
                new = await self.writer.write(event)
        except (SpoolWriteError, TimeoutError):
            return _json_error(503, "the event could not be stored yet; retry later")
        if new and self.trigger is not None:
            self.trigger.notify()
        return OK


async def _health(_request: Request) -> Response:
    return OK


def create_app(settings: ReceiverSettings, spool: Spool | None = None) -> Starlette:
    """The ASGI app; the spool is opened at startup unless one is given."""
    receiver = Receiver(settings, spool)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await receiver.startup()
        try:
            yield
        finally:
            await receiver.shutdown()

    app = Starlette(
        routes=[
            Route("/health", _health, methods=["GET"]),
            Route("/{path:path}", receiver.receive, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.receiver = receiver
    return app
