"""Runs the applying job (by default ``meltano run tap-pipedrive-live target-cdp``) after events
arrive: debounced (``debounce.py``), never two runs at once, each run recorded in the spool.

The command gets ``PIPEDRIVE_WEBHOOKS_RUN_ID`` in its environment so the job can report the
spool position it applied through (``Spool.record_applied``). A failed run is logged and
recorded; its events stay in the spool for the next run, and the scheduled polling job remains
the safety net for events Pipedrive could not deliver while the receiver was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import time
from collections.abc import Callable, Sequence

from pipedrive_webhooks.debounce import Debounce
from pipedrive_webhooks.spool import Spool

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30.0


class ApplyTrigger:
    """Starts the applying job when pending events are due; one run at a time."""

    def __init__(
        self,
        spool: Spool,
        command: Sequence[str],
        debounce: Debounce,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Nothing runs until ``start``."""
        self._spool = spool
        self._command = list(command)
        self._debounce = debounce
        self._clock = clock
        self._first_pending: float | None = None
        self._last_event = 0.0
        self._pending_events = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._running = False

    def start(self) -> None:
        """Start waiting for events (on the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def notify(self, new_events: int = 1) -> None:
        """New events were committed to the spool."""
        now = self._clock()
        if self._first_pending is None:
            self._first_pending = now
        self._last_event = now
        self._pending_events += new_events
        self._wake.set()

    async def stop(self) -> None:
        """Stop waiting; a run in progress is asked to stop (SIGTERM) and recorded."""
        process = self._process
        if process is not None and process.returncode is None:
            logger.warning("Stopping: asking the running apply job (pid %d) to stop", process.pid)
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            if process.returncode is None:
                process.kill()
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._idle()), STOP_GRACE_SECONDS)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _idle(self) -> None:
        while self._running:
            await asyncio.sleep(0.05)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            while True:
                self._wake.clear()
                assert self._first_pending is not None
                delay = self._debounce.due_at(self._first_pending, self._last_event) - self._clock()
                if delay <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            reason = f"{self._pending_events} new webhook event(s)"
            self._first_pending = None
            self._pending_events = 0
            await self._run_once(reason)

    async def _run_once(self, reason: str) -> None:
        self._running = True
        try:
            await self._run_recorded(reason)
        finally:
            self._running = False

    async def _run_recorded(self, reason: str) -> None:
        run = await asyncio.to_thread(self._spool.begin_run, reason)
        logger.info(
            "Apply run %d started (%s, spool position %d): %s",
            run.run_id,
            reason,
            run.spool_position_at_start,
            shlex.join(self._command),
        )
        started = time.monotonic()
        env = {**os.environ, "PIPEDRIVE_WEBHOOKS_RUN_ID": str(run.run_id)}
        try:
            self._process = await asyncio.create_subprocess_exec(*self._command, env=env)
            exit_code = await self._process.wait()
        except OSError as exc:
            logger.error(
                "Apply run %d could not start %r: %s; check apply_command",
                run.run_id,
                self._command[0],
                exc.strerror or type(exc).__name__,
            )
            exit_code = 127
        finally:
            self._process = None
        await asyncio.to_thread(self._spool.finish_run, run.run_id, exit_code)
        seconds = time.monotonic() - started
        if exit_code == 0:
            logger.info("Apply run %d finished in %.1f s", run.run_id, seconds)
        else:
            logger.warning(
                "Apply run %d failed (exit code %d after %.1f s); its events stay in the spool "
                "for the next run, and the scheduled polling job remains the safety net",
                run.run_id,
                exit_code,
                seconds,
            )
