"""The provider interfaces: persistence, queue and lock.

They are ``typing.Protocol`` classes: a third-party provider implements the methods, it does not need to
inherit. The contract test suite in ``tests/contract`` is run against every implementation. The method
names follow Workflow Core's (``queue_work``, ``dequeue_work``, ``acquire_lock``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from liteflow.core.models import Event, EventSubscription, ExecutionError, WorkflowInstance, WorkflowStatus


class QueueType(str, Enum):
    WORKFLOW = "workflow"
    EVENT = "event"


@runtime_checkable
class PersistenceProvider(Protocol):
    """Stores instances, events, subscriptions and errors.

    ``persist_workflow`` is a compare-and-set on ``instance.revision``: it stores the instance only if the
    stored revision still equals ``instance.revision``, then increments ``instance.revision``; otherwise it
    raises :class:`~liteflow.core.errors.ConcurrencyError` and stores nothing.
    """

    #: True when values must be JSON-serialisable (the memory provider keeps objects as they are).
    stores_json: bool

    def create_workflow(self, instance: WorkflowInstance) -> str: ...

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
    ) -> None:
        """Store the instance (compare-and-set on its revision) with ``subscriptions`` (upserted by id),
        and remove the subscriptions whose ids are in ``ended_subscriptions``; nothing is changed if the
        compare-and-set fails."""
        ...

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        """Raises WorkflowNotFoundError. Workflow data comes back as stored (JSON for persistent providers)."""
        ...

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]: ...

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        """Ids of RUNNABLE instances whose ``next_execution`` is at or before ``as_at``."""
        ...

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Delete instances in ``status`` completed (or created) before ``older_than``; returns how many."""
        ...

    def create_event_subscription(self, subscription: EventSubscription) -> str: ...

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        """Subscriptions to (name, key) whose ``subscribe_as_of`` is at or before ``as_of``, oldest first."""
        ...

    def terminate_subscription(self, subscription_id: str) -> None: ...

    def create_event(self, event: Event) -> str: ...

    def get_event(self, event_id: str) -> Event:
        """Raises KeyError for an unknown id."""
        ...

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        """Events of (name, key) with ``since <= event_time <= until``, oldest first."""
        ...

    def get_runnable_events(self, as_at: datetime) -> list[str]:
        """Ids of unprocessed events whose ``event_time`` is at or before ``as_at``."""
        ...

    def purge_events(self, older_than: datetime) -> int:
        """Delete processed events whose ``event_time`` is before ``older_than``; returns how many."""
        ...

    def mark_event_processed(self, event_id: str) -> None: ...

    def mark_event_unprocessed(self, event_id: str) -> None: ...

    def persist_errors(self, errors: Sequence[ExecutionError]) -> None: ...

    def get_errors(self, workflow_id: str) -> list[ExecutionError]: ...

    def close(self) -> None: ...


@runtime_checkable
class QueueProvider(Protocol):
    """Work queues of ids. ``dequeue_work`` blocks up to ``timeout`` seconds; an id already queued is not
    queued twice (the queue never floods with duplicates)."""

    def queue_work(self, item_id: str, queue: QueueType) -> None: ...

    def dequeue_work(self, queue: QueueType, timeout: float) -> str | None: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchQueueProvider(Protocol):
    """An optional ability of a queue provider (checked with ``isinstance``): queue many ids at once.

    ``queue_work_many`` queues, in the given order, each id not already in the queue (the same rule as
    ``queue_work``) in one step (one round trip for a server), and returns how many it added. The poller
    uses it to hand back a backlog of due work without one call per id, most of it already queued.
    """

    def queue_work_many(self, item_ids: Sequence[str], queue: QueueType) -> int: ...


@runtime_checkable
class LockProvider(Protocol):
    """Named locks with a lease. A lock is owned by the provider object that took it; the provider keeps
    renewing the leases of the locks it holds, so a lock frees itself only if its owner dies or stalls."""

    def acquire_lock(self, resource_id: str) -> bool: ...

    def release_lock(self, resource_id: str) -> None: ...

    def close(self) -> None: ...
