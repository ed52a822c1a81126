"""What a host's workers are running now, the events left to them, and who waits for which instance.

One condition guards the three: a worker ending its run of an instance (``finished``) hands back the
events left to it (``defer_event``) and wakes the ``wait_for_workflow`` callers of that instance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import QueueProvider, QueueType
from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance, WorkflowStatus

log = logger("host")


class _Watch:
    """A workflow some ``wait_for_workflow`` callers wait for, and its status as last seen here."""

    def __init__(self) -> None:
        self.waiters = 0
        self.status: WorkflowStatus | None = None

    def settled(self) -> bool:
        return self.status is not None and self.status is not WorkflowStatus.RUNNABLE


class InProgress:
    """The instances this host's workers are running (counted: an event worker and a workflow worker may
    both be on one), the events that found one of them locked, and the waits on instances."""

    def __init__(self, queue: QueueProvider) -> None:
        self.queue = queue
        self._changed = threading.Condition()
        self._processing: dict[str, int] = {}
        #: events that found a workflow locked by this host: workflow id -> event ids (see defer_event)
        self._deferred: dict[str, set[str]] = {}
        #: what wait_for_workflow callers are waiting for: workflow id -> the status last seen here
        self._watched: dict[str, _Watch] = {}

    # -- runs ----------------------------------------------------------------------------------------------
    def begin(self, workflow_id: str) -> None:
        with self._changed:
            self._processing[workflow_id] = self._processing.get(workflow_id, 0) + 1

    def finished(self, workflow_id: str) -> None:
        deferred: set[str] = set()
        with self._changed:
            count = self._processing.get(workflow_id, 0) - 1
            if count > 0:
                self._processing[workflow_id] = count
            else:
                self._processing.pop(workflow_id, None)
                if self._deferred:
                    deferred = self._deferred.pop(workflow_id, deferred)
            if workflow_id in self._watched:
                self._changed.notify_all()
        for event_id in deferred:  # its lock is released: they can be delivered now
            self.queue.queue_work(event_id, QueueType.EVENT)

    def running(self, workflow_id: str) -> bool:
        """Whether a worker of this host runs ``workflow_id`` now (one dictionary look, no lock)."""
        return workflow_id in self._processing

    def ids(self) -> set[str]:
        with self._changed:
            return set(self._processing)

    # -- events left to a running worker -------------------------------------------------------------------
    def defer_event(self, workflow_id: str, event_id: str) -> bool:
        """An event found ``workflow_id`` locked: if this host is running it, leave the event to it (it
        takes the event after its pass, or queues it again when done) and return True; else False."""
        with self._changed:
            if workflow_id not in self._processing:
                return False
            self._deferred.setdefault(workflow_id, set()).add(event_id)
            return True

    def take_deferred_events(self, workflow_id: str) -> list[str]:
        """For the worker running ``workflow_id``: the events left to it by ``defer_event``."""
        if not self._deferred:
            return []
        with self._changed:
            return sorted(self._deferred.pop(workflow_id, ()))

    # -- waits ---------------------------------------------------------------------------------------------
    def notify_changed(self, workflow_id: str, status: WorkflowStatus) -> None:
        if workflow_id not in self._watched:  # nobody waits for it: no lock, no wake-up
            return
        with self._changed:
            watch = self._watched.get(workflow_id)
            if watch is not None:
                watch.status = status
                self._changed.notify_all()

    def wait(
        self, workflow_id: str, timeout: float | None, read: Callable[[str], WorkflowInstance]
    ) -> WorkflowInstance:
        """``wait_for_workflow``: block until ``read(workflow_id)`` is no longer RUNNABLE (and no worker
        here runs it); TimeoutError after ``timeout`` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            watch = self._watched.setdefault(workflow_id, _Watch())
            watch.waiters += 1
        try:
            return self._wait(workflow_id, watch, deadline, timeout, read)
        finally:
            with self._changed:
                watch.waiters -= 1
                if watch.waiters == 0:
                    self._watched.pop(workflow_id, None)

    def _wait(
        self,
        workflow_id: str,
        watch: _Watch,
        deadline: float | None,
        timeout: float | None,
        read: Callable[[str], WorkflowInstance],
    ) -> WorkflowInstance:
        status = "unread"
        failure: ProviderError | None = None
        backoff = 0.0
        while True:
            try:
                instance = read(workflow_id)
            except ProviderError as exc:
                if failure is None:
                    log.warning("client.read_failed", workflow_id=workflow_id, error=str(exc))
                failure, backoff = exc, min(max(backoff * 2, 0.05), 1.0)
            else:
                failure, backoff, status = None, 0.0, instance.status.value
                if instance.status is not WorkflowStatus.RUNNABLE and workflow_id not in self._processing:
                    return instance
            with self._changed:
                while failure is not None or not (watch.settled() and workflow_id not in self._processing):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        still = f"could not be read ({failure})" if failure is not None else f"is still {status}"
                        raise TimeoutError(f"workflow {workflow_id} {still} after {timeout}s") from failure
                    pause = backoff if failure is not None else 0.25
                    if not self._changed.wait(pause if remaining is None else min(remaining, pause)):
                        break  # re-read: another host may have moved it on (or the store may be back)
