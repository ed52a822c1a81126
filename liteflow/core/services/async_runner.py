"""An asyncio event loop owned by the host, in its own thread, for ``async def run`` steps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any


class AsyncRunner:
    """Started on first use; worker threads hand it coroutines and wait for their results."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._mutex:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="liteflow-asyncio", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (started if need be), for scheduling work on it from other threads."""
        return self._ensure_loop()

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wrapper() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self._ensure_loop()).result()

    def stop(self) -> None:
        with self._mutex:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
