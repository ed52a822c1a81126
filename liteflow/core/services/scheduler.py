"""Timers: queue an id when it comes due (a sleeping workflow, an event to try again)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time

from liteflow.core.interfaces import QueueProvider, QueueType
from liteflow.core.log import logger

log = logger("scheduler")


class WakeupScheduler:
    """One thread waiting on a condition variable until the earliest timer is due; no polling."""

    def __init__(self, queue: QueueProvider) -> None:
        self._queue = queue
        self._heap: list[tuple[float, int, str, QueueType]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        self._thread = threading.Thread(target=self._run, name="liteflow-scheduler", daemon=True)
        self._thread.start()

    def wake_after(self, seconds: float, item_id: str, queue: QueueType) -> None:
        due = time.monotonic() + max(seconds, 0.0)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), item_id, queue))
            if self._heap[0][2] == item_id:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._cond.wait(None if not self._heap else self._heap[0][0] - now)
                if self._stopping:
                    return
                _, _, item_id, queue = heapq.heappop(self._heap)
            try:
                self._queue.queue_work(item_id, queue)
            except Exception as exc:  # the poller recovers it later
                log.warning("scheduler.queue_failed", item_id=item_id, error=str(exc))

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
