"""In-process work queues with a blocking dequeue and no duplicates."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from liteflow.core.interfaces import QueueType
from liteflow.providers.memory.health import InProcessHealth


class _Queue:
    def __init__(self) -> None:
        self.items: deque[str] = deque()
        self.members: set[str] = set()
        self.ready = threading.Condition(threading.Lock())


class MemoryQueueProvider(InProcessHealth):
    """One FIFO per queue type; ``dequeue_work`` waits on a condition variable, never polls."""

    def __init__(self) -> None:
        self._queues = {queue: _Queue() for queue in QueueType}

    def queue_work(self, item_id: str, queue: QueueType) -> None:
        q = self._queues[queue]
        with q.ready:
            if item_id in q.members:
                return
            q.members.add(item_id)
            q.items.append(item_id)
            q.ready.notify()

    def queue_work_many(self, item_ids: Sequence[str], queue: QueueType) -> int:
        """Queue each id not already queued, in order, under one lock; how many were added."""
        q = self._queues[queue]
        added = 0
        with q.ready:
            for item_id in item_ids:
                if item_id not in q.members:
                    q.members.add(item_id)
                    q.items.append(item_id)
                    added += 1
            if added:
                q.ready.notify(added)
        return added

    def dequeue_work(self, queue: QueueType, timeout: float) -> str | None:
        q = self._queues[queue]
        with q.ready:
            if not q.items:
                q.ready.wait(timeout)  # woken by queue_work or interrupt()
                if not q.items:
                    return None
            item_id = q.items.popleft()
            q.members.discard(item_id)
            return item_id

    def dequeue_many(self, queue: QueueType, most: int, timeout: float) -> list[str]:
        """Up to ``most`` ids, oldest first, waiting up to ``timeout`` seconds for the first."""
        q = self._queues[queue]
        with q.ready:
            if not q.items:
                q.ready.wait(timeout)
            taken = [q.items.popleft() for _ in range(min(most, len(q.items)))]
            q.members.difference_update(taken)
            return taken

    def queue_length(self, queue: QueueType) -> int:
        """How many ids wait in ``queue``."""
        q = self._queues[queue]
        with q.ready:
            return len(q.items)

    def interrupt(self) -> None:
        """Wake every blocked ``dequeue_work`` (it returns None if nothing is queued): a stopping host."""
        for q in self._queues.values():
            with q.ready:
                q.ready.notify_all()

    def close(self) -> None:
        self.interrupt()


#: Workflow Core's name for the built-in single-node queue.
SingleNodeQueueProvider = MemoryQueueProvider
