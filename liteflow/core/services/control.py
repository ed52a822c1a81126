"""Changing an instance's status from outside (suspend, resume, terminate) without taking its lock.

A status change is a compare-and-set on the instance's revision, retried on conflict. A host running the
instance at that moment loses its own compare-and-set, sees the status change and applies it to its
result (see ``WorkflowConsumer.save``): the change lands as soon as the current step returns.
"""

from __future__ import annotations

from collections.abc import Callable

from liteflow.core.errors import ConcurrencyError
from liteflow.core.interfaces import PersistenceProvider
from liteflow.core.models import WorkflowInstance, WorkflowStatus, to_millis, utcnow

Change = Callable[[WorkflowInstance], bool]


def change_status(
    persistence: PersistenceProvider, workflow_id: str, change: Change, attempts: int = 100
) -> WorkflowInstance | None:
    """Apply ``change`` (which returns False when it does not apply) until it persists; the new instance."""
    for _ in range(attempts):
        instance = persistence.get_workflow_instance(workflow_id)
        if not change(instance):
            return None
        try:
            persistence.persist_workflow(instance)
        except ConcurrencyError:
            continue
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
    return True


def terminate(instance: WorkflowInstance) -> bool:
    if instance.status not in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
        return False
    instance.status = WorkflowStatus.TERMINATED
    instance.complete_time = utcnow()
    instance.next_execution = None
    return True
