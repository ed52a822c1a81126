"""Overrun policies: what triggering a template does while instances of it are still running.

``start-new`` (default) always starts one. ``skip`` starts none while any instance runs.
``skip-until-unlock`` starts none while an instance's root task has not finished. ``abort-running``
terminates the running instances, then starts one. "Running" means RUNNABLE or SUSPENDED.

The decision must hold across hosts sharing providers, so it is made under a lock named after the
template (the lock provider), from state kept in the persistence provider with existing operations only:
each instance started is recorded (``host.cancel`` reads the records too) as an
:class:`~liteflow.core.models.EventSubscription` named :data:`RUNNING_MARKER` keyed by the template id (its
``workflow_id`` is the instance). Subscriptions are a set every provider can add to, list by (name, key)
and remove from. Deciding lists them, reads the instances (``get_workflow_instances``) and drops the
records of finished (or purged) instances, so the set stays as small as the number of running instances.
No event is ever published under that name, so the event consumer never looks at these records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import Enum
from typing import Any

from liteflow.core.errors import DefinitionError
from liteflow.core.interfaces import LockProvider, PersistenceProvider
from liteflow.core.models import EventSubscription, PointerStatus, WorkflowInstance, WorkflowStatus, new_id, utcnow

#: The event name of the records of running template instances.
RUNNING_MARKER = "liteflow.template-running"
#: How long deciding waits for another host deciding for the same template.
LOCK_TIMEOUT = 30.0
_FAR = timedelta(days=3650)


class OverrunPolicy(str, Enum):
    START_NEW = "start-new"
    SKIP = "skip"
    SKIP_UNTIL_UNLOCK = "skip-until-unlock"
    ABORT_RUNNING = "abort-running"

    @classmethod
    def parse(cls, value: Any) -> OverrunPolicy:
        if value is None:
            return cls.START_NEW
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(p.value) for p in cls)
            raise DefinitionError(f"unknown policy {value!r} (use one of {names})") from None


def record_id(workflow_id: str) -> str:
    return f"{RUNNING_MARKER}:{workflow_id}"


def lock_name(template_id: str) -> str:
    return f"liteflow.template:{template_id}"


@contextmanager
def template_lock(lock: LockProvider, template_id: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the template's lock (waiting for another holder up to ``timeout`` seconds)."""
    name = lock_name(template_id)
    deadline = time.monotonic() + timeout
    pause = 0.005
    while not lock.acquire_lock(name):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"could not take the lock {name!r} within {timeout}s")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    try:
        yield
    finally:
        lock.release_lock(name)


class RunningInstances:
    """The running instances of each template, recorded in the persistence provider."""

    def __init__(self, persistence: PersistenceProvider) -> None:
        self.persistence = persistence

    def add(self, template_id: str, workflow_id: str) -> None:
        self.persistence.create_event_subscription(
            EventSubscription(
                id=record_id(workflow_id),
                workflow_id=workflow_id,
                step_id=0,
                execution_pointer_id="",
                event_name=RUNNING_MARKER,
                event_key=template_id,
                subscribe_as_of=utcnow(),
            )
        )

    def finished(self, workflow_id: str) -> None:
        """Drop the record of an instance that ended (a record left behind is dropped by ``running``)."""
        self.persistence.terminate_subscription(record_id(workflow_id), workflow_id=workflow_id)

    def running(self, template_id: str) -> list[WorkflowInstance]:
        """The recorded instances still running; records of the others are dropped."""
        records = self.persistence.get_subscriptions(RUNNING_MARKER, template_id, utcnow() + _FAR)
        if not records:
            return []
        found = {i.id: i for i in self.persistence.get_workflow_instances([r.workflow_id for r in records])}
        running = []
        for record in records:
            instance = found.get(record.workflow_id)
            if instance is not None and instance.status in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
                running.append(instance)
            else:
                self.persistence.terminate_subscription(record.id, workflow_id=record.workflow_id)
        return running


def root_done(instance: WorkflowInstance) -> bool:
    """The instance's root task (step 0) has finished: the instance is "unlocked"."""
    return any(p.step_id == 0 and p.status is PointerStatus.COMPLETE for p in instance.execution_pointers)


def apply_policy(
    policy: OverrunPolicy,
    template_id: str,
    persistence: PersistenceProvider,
    lock: LockProvider,
    start: Callable[[str], str],
    terminate: Callable[[str], Any],
) -> str | None:
    """Start an instance with ``start(workflow_id)`` if the policy allows it; its id, or None when skipped.
    The instance is recorded before it starts, so an instance that ends at once leaves no record behind."""
    tracker = RunningInstances(persistence)
    if policy is OverrunPolicy.START_NEW:
        workflow_id = new_id()
        tracker.add(template_id, workflow_id)
        return start(workflow_id)
    with template_lock(lock, template_id):
        running = tracker.running(template_id)
        if policy is OverrunPolicy.SKIP and running:
            return None
        if policy is OverrunPolicy.SKIP_UNTIL_UNLOCK and not all(root_done(i) for i in running):
            return None
        if policy is OverrunPolicy.ABORT_RUNNING:
            for instance in running:
                terminate(instance.id)
        workflow_id = new_id()
        tracker.add(template_id, workflow_id)
        return start(workflow_id)


__all__ = ["RUNNING_MARKER", "OverrunPolicy", "RunningInstances", "apply_policy", "root_done", "template_lock"]
