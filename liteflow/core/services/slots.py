"""Workflow slots: at most ``max_concurrent_workflows`` instances run at once on a host.

A workflow worker takes a slot for every id it dequeues, and gives it back when done. An event worker
that has just delivered an event, and still holds the woken instance's lock, hands that instance to a
free slot (:meth:`WorkflowSlots.hand_off`), where a runner thread of the slot runs it at once: the
shortest path from an event to the steps after the wait (no queue, no second lock or load). When no
slot is free it gives the instance back to the queue instead. Event workers so never run steps: events
never wait behind a slow step, and slow steps never take more than the host's slots.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance

log = logger("host")


class WorkflowSlots:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.Semaphore(size)
        self._handed: queue.SimpleQueue[WorkflowInstance | None] = queue.SimpleQueue()
        self._mutex = threading.Lock()
        self._open = True

    def take(self) -> bool:
        """Wait for a free slot: True once taken, False if the slots were closed (the host stops)."""
        self._free.acquire()
        if self._open:
            return True
        self._free.release()  # passed on: the next waiter wakes and sees it closed too
        return False

    def give_back(self) -> None:
        self._free.release()

    def hand_off(self, instance: WorkflowInstance) -> bool:
        """Give a held instance to a free slot's runner (which gives the slot back when done); False if
        no slot is free or the slots are closed."""
        if not self._free.acquire(blocking=False):
            return False
        with self._mutex:
            if self._open:
                self._handed.put(instance)
                return True
        self._free.release()
        return False

    def serve(self, run: Callable[[WorkflowInstance], None]) -> None:
        """A runner thread: run what is handed off until the slots are closed (what was handed off
        before is run first)."""
        while (instance := self._handed.get()) is not None:
            try:
                run(instance)
            except Exception as exc:  # the instance is recovered by the poller; the runner carries on
                log.warning(
                    "worker.failed", queue="handed-off", workflow_id=instance.id, error=f"{type(exc).__name__}: {exc}"
                )
            finally:
                self._free.release()

    def close(self) -> None:
        """No more hand-offs; runners finish what they were given, then return; ``take`` returns False."""
        with self._mutex:
            if not self._open:
                return
            self._open = False
            for _ in range(self.size):
                self._handed.put(None)
        self._free.release()  # wakes a worker waiting in take(), which wakes the next
