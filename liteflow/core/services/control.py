"""Changing an instance's status from outside (suspend, resume, terminate) without taking its lock.

A status change is a compare-and-set on the instance's revision, retried on conflict. A host running the
instance at that moment loses its own compare-and-set, sees the status change and applies it to its
result (see ``WorkflowConsumer.save``): the change lands as soon as the current step returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from liteflow.core.engine.errors import fresh_retries
from liteflow.core.errors import ConcurrencyError
from liteflow.core.interfaces import PersistenceProvider
from liteflow.core.models import WorkflowInstance, WorkflowStatus, to_millis, utcnow

Change = Callable[[WorkflowInstance], bool]


class ControlRequest:
    """A status change waiting for the host running the instance to apply it between two steps."""

    def __init__(self, change: Change) -> None:
        self.change = change
        self.done = threading.Event()
        self.applied: WorkflowInstance | None = None

    def apply(self, persistence: PersistenceProvider, instance: WorkflowInstance) -> bool:
        """Called by the lock holder after a pass: apply and persist. False if the change was made to
        ``instance`` but could not be persisted (it no longer matches what is stored)."""
        if self.done.is_set() or not self.change(instance):
            self.done.set()
            return True
        try:
            persistence.persist_workflow(instance)
        except ConcurrencyError:  # stale after all: the caller's own compare-and-set goes on trying
            return False
        self.applied = instance
        self.done.set()
        return True


def change_status(
    persistence: PersistenceProvider,
    workflow_id: str,
    change: Change,
    within: float = 30.0,
    request: ControlRequest | None = None,
) -> WorkflowInstance | None:
    """Apply ``change`` (which returns False when it does not apply) until it persists; the new instance.

    An instance that a host is running fast persists after every step and may win the compare-and-set
    many times in a row: tries back off (1 ms, doubling up to 50 ms) and go on for ``within`` seconds.
    """
    deadline = time.monotonic() + within
    pause = 0.001
    while True:
        if request is not None and request.done.is_set():  # the host running it applied the change
            return request.applied
        instance = persistence.get_workflow_instance(workflow_id)
        if not change(instance):
            return None
        try:
            persistence.persist_workflow(instance)
        except ConcurrencyError:
            if time.monotonic() + pause > deadline:
                break
            if request is not None:
                request.done.wait(pause)  # a user's call, not the engine's hot path
            else:
                time.sleep(pause)
            pause = min(pause * 2, 0.05)
            continue
        if request is not None:
            request.done.set()  # too late for the host: this call applied it
        return instance
    raise ConcurrencyError(workflow_id, -1)


def suspend(instance: WorkflowInstance) -> bool:
    if instance.status is not WorkflowStatus.RUNNABLE:
        return False
    instance.status = WorkflowStatus.SUSPENDED
    return True


def resume(instance: WorkflowInstance) -> bool:
    if instance.status is not WorkflowStatus.SUSPENDED:
        return False
    instance.status = WorkflowStatus.RUNNABLE
    instance.next_execution = to_millis(utcnow())
    fresh_retries(instance)
    return True


def terminate(instance: WorkflowInstance) -> bool:
    if instance.status not in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
        return False
    instance.status = WorkflowStatus.TERMINATED
    instance.complete_time = utcnow()
    instance.next_execution = None
    return True
