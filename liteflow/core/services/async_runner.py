"""An asyncio event loop owned by the host, in its own thread, for ``async def run`` steps."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable
from typing import Any

from liteflow.core.log import logger

log = logger("async_runner")

#: How long stop() gives cancelled coroutines to finish (their ``finally`` blocks, ``except CancelledError``).
_CANCEL_GRACE = 1.0


class StepInterrupted(BaseException):
    """An ``async def`` step cancelled because its host stopped before it finished.

    Not a failure of the step: it passes through the executor (which catches ``Exception``), so nothing
    of the pass is stored, the worker releases the lock and ends, and the step runs again later (on
    this host once started again, or on another host sharing the store).
    """


class AsyncRunner:
    """Started on first use; worker threads hand it coroutines and wait for their results.

    ``stop()`` cancels the coroutines still running: each worker waiting for one wakes at once with
    :class:`StepInterrupted` (never a worker blocked for ever on a loop that was closed under it).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()

    def _submit(self, awaitable: Awaitable[Any]) -> concurrent.futures.Future[Any]:
        async def wrapper() -> Any:
            return await awaitable

        with self._mutex:  # submitted and recorded together, so stop() sees every coroutine of its loop
            future = asyncio.run_coroutine_threadsafe(wrapper(), self._started())
            self._pending.add(future)
        return future

    def _started(self) -> asyncio.AbstractEventLoop:
        """The loop, started if need be (the caller holds ``_mutex``)."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="liteflow-asyncio", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (started if need be), for scheduling work on it from other threads."""
        with self._mutex:
            return self._started()

    def run(self, awaitable: Awaitable[Any]) -> Any:
        future = self._submit(awaitable)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise StepInterrupted("the host stopped while the step ran; it runs again later") from None
        finally:
            self._pending.discard(future)

    def stop(self) -> None:
        with self._mutex:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            pending = list(self._pending)
        if loop is None or thread is None:
            return
        if pending:
            log.warning("async.steps_cancelled", count=len(pending))
            try:
                asyncio.run_coroutine_threadsafe(_cancel_all(_CANCEL_GRACE), loop).result(_CANCEL_GRACE + 1.0)
            except (concurrent.futures.TimeoutError, RuntimeError) as exc:  # a coroutine blocking the loop
                log.warning("async.cancel_incomplete", error=f"{type(exc).__name__}: {exc}")
            for future in pending:  # what would not end (it ignored its cancellation): its worker still wakes
                future.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not loop.is_running():
            loop.close()


async def _cancel_all(grace: float) -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=grace)
