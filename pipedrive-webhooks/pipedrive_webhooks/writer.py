"""Group commit: one thread writes what concurrent requests hand it, many events per transaction.

A delivery is acknowledged only after its transaction commits (``synchronous=FULL`` on SQLite:
an fsync per commit). One commit per event would cap the receiver at the disk's fsync rate; here
every request waiting at a given moment shares one commit, so the rate grows with concurrency
while each event is still durable before its 2xx.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from pipedrive_webhooks.payload import WebhookEvent
from pipedrive_webhooks.spool import Spool, utc_now

logger = logging.getLogger(__name__)

MAX_BATCH = 500
_STOP = None


class SpoolWriteError(RuntimeError):
    """The spool could not commit a batch; its deliveries must not be acknowledged."""


def _resolve(futures: list[asyncio.Future[int]], new: int) -> None:
    for future in futures:
        if not future.done():  # a request that timed out has cancelled its future
            future.set_result(new)


def _fail(futures: list[asyncio.Future[int]], error: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)


class GroupCommitWriter:
    """Commits events to the spool from one thread; ``write`` returns once committed."""

    def __init__(self, spool: Spool, *, max_batch: int = MAX_BATCH) -> None:
        """Nothing runs until ``start``."""
        self._spool = spool
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writing thread; results are handed back on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    async def write(self, event: WebhookEvent) -> int:
        """Commit one event (with whatever else is waiting).

        Returns:
            How many new events its batch stored (0: all were redeliveries).

        Raises:
            SpoolWriteError: if the batch could not be committed.
        """
        assert self._loop is not None, "start() the writer first"
        future: asyncio.Future[int] = self._loop.create_future()
        self._queue.put((event, future))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[WebhookEvent, asyncio.Future[int]]]) -> None:
        assert self._loop is not None
        try:
            new = self._spool.append([event for event, _ in batch], utc_now())
        except Exception as exc:  # noqa: BLE001 - any failure must reach the waiting requests
            logger.error(
                "Could not store %d webhook event(s) in the spool (%s): %s; answering 503 so "
                "Pipedrive retries them",
                len(batch),
                self._spool.display_url,
                type(exc).__name__,
            )
            futures = [future for _, future in batch]
            self._loop.call_soon_threadsafe(_fail, futures, SpoolWriteError(type(exc).__name__))
            return
        # One wake-up of the event loop per batch, not per event.
        self._loop.call_soon_threadsafe(_resolve, [future for _, future in batch], new)
