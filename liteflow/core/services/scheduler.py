"""Timers: queue an id when it comes due (a sleeping workflow, an event to try again)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time

from liteflow.core.interfaces import QueueProvider, QueueType
from liteflow.core.log import logger

log = logger("scheduler")

_Key = tuple[str, QueueType]


class WakeupScheduler:
    """One thread waiting on a condition variable until the earliest timer is due; no polling.

    At most one timer is pending per (id, queue): asking again for an earlier time moves it forward,
    asking for a later one changes nothing (a wake-up before the work is due only re-arms the timer).
    """

    def __init__(self, queue: QueueProvider) -> None:
        self._queue = queue
        self._heap: list[tuple[float, int, str, QueueType]] = []
        #: (id, queue) -> (due, sequence number) of its one live heap entry; other entries are stale
        self._pending: dict[_Key, tuple[float, int]] = {}
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
        key = (item_id, queue)
        with self._cond:
            pending = self._pending.get(key)
            if pending is not None and pending[0] <= due:
                return  # an earlier timer for it is already set
            seq = next(self._seq)
            self._pending[key] = (due, seq)
            heapq.heappush(self._heap, (due, seq, item_id, queue))
            if len(self._heap) > 2 * len(self._pending) + 64:
                self._compact()
            if self._heap[0][1] == seq:
                self._cond.notify()

    def pending(self) -> int:
        """How many timers are set (one per id and queue)."""
        with self._cond:
            return len(self._pending)

    def _compact(self) -> None:
        live = {seq for _, seq in self._pending.values()}
        self._heap = [entry for entry in self._heap if entry[1] in live]
        heapq.heapify(self._heap)

    def _next_due(self) -> tuple[str, QueueType] | None:
        """With the condition held: wait until the earliest live timer is due and take it (None: stop)."""
        while not self._stopping:
            now = time.monotonic()
            if self._heap:
                due, seq, item_id, queue = self._heap[0]
                if self._pending.get((item_id, queue), (0.0, -1))[1] != seq:
                    heapq.heappop(self._heap)  # superseded by an earlier timer for the same id
                    continue
                if due <= now:
                    heapq.heappop(self._heap)
                    del self._pending[(item_id, queue)]
                    return item_id, queue
            self._cond.wait(None if not self._heap else self._heap[0][0] - now)
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                taken = self._next_due()
            if taken is None:
                return
            item_id, queue = taken
            try:
                self._queue.queue_work(item_id, queue)
            except Exception as exc:  # the poller recovers it later
                log.warning("scheduler.queue_failed", item_id=item_id, error=str(exc))

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
