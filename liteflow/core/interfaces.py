"""The provider interfaces: persistence, queue and lock, and the optional health check.

They are ``typing.Protocol`` classes: a third-party provider implements the methods, it does not need to
inherit. The contract test suite in ``tests/contract`` is run against every implementation. The method
names follow Workflow Core's (``queue_work``, ``dequeue_work``, ``acquire_lock``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from liteflow.core.models import Event, EventSubscription, ExecutionError, WorkflowInstance, WorkflowStatus
from liteflow.core.schedules import Schedule


class QueueType(str, Enum):
    WORKFLOW = "workflow"
    EVENT = "event"


@runtime_checkable
class PersistenceProvider(Protocol):
    """Stores instances, events, subscriptions and errors.

    ``persist_workflow`` is a compare-and-set on ``instance.revision``: it stores the instance only if the
    stored revision still equals ``instance.revision``, then increments ``instance.revision``; otherwise it
    raises :class:`~liteflow.core.errors.ConcurrencyError` and stores nothing.

    A *control request* (a suspend, resume or terminate waiting for the lock holder, see
    ``liteflow.core.control_state``) is stored beside the instance, never in it: ``request_control``
    sets them, every load marks the instance with the one pending, and ``persist_workflow`` refuses
    with :class:`~liteflow.core.errors.ControlRequested` while one is pending that it does not clear.
    """

    #: True when values must be JSON-serialisable (the memory provider keeps objects as they are).
    stores_json: bool

    def create_workflow(self, instance: WorkflowInstance) -> str:
        """Store a new instance at revision 1; WorkflowAlreadyExistsError (nothing changed) if its id is taken."""
        ...

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        """Store the instance (compare-and-set on its revision) with ``subscriptions`` (upserted by id),
        and remove the subscriptions whose ids are in ``ended_subscriptions``. ``control_applied``: the
        pending control requests this write applies, cleared with it (if none are pending any more, the
        write goes ahead; other requests pending refuse it). Nothing is changed if the
        compare-and-set fails (ConcurrencyError) or another request is pending (ControlRequested)."""
        ...

    def request_control(self, workflow_id: str, expected: str | None, requests: str) -> bool:
        """Compare-and-set of the instance's pending control requests (an opaque string): set them to
        ``requests`` if they are still ``expected`` (None: none pending), in one atomic step, without
        touching the instance or its revision; True if set. WorkflowNotFoundError if unknown."""
        ...

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        """Raises WorkflowNotFoundError. Workflow data comes back as stored (JSON for persistent providers)."""
        ...

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]: ...

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        """Ids of RUNNABLE instances whose ``next_execution`` is at or before ``as_at``."""
        ...

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Delete instances in ``status`` completed (or created) before ``older_than``, with their
        subscriptions and errors; returns how many instances."""
        ...

    def list_workflows(
        self,
        status: WorkflowStatus | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        skip: int = 0,
        take: int = 100,
    ) -> list[WorkflowInstance]:
        """Instances matching every filter given (``created_from <= create_time < created_to``), newest
        ``create_time`` first (ties: larger id first), ``skip`` of them left out, at most ``take``.
        Read from indexes, never by scanning every instance. The built-in providers inherit it and
        ``count_workflows`` from :class:`~liteflow.core.visibility.WorkflowVisibility`."""
        ...

    def count_workflows(
        self,
        status: WorkflowStatus | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> int:
        """How many instances ``list_workflows`` with the same filters would find without paging."""
        ...

    def create_event_subscription(self, subscription: EventSubscription) -> str: ...

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        """Subscriptions to (name, key) whose ``subscribe_as_of`` is at or before ``as_of``, oldest first."""
        ...

    def terminate_subscription(self, subscription_id: str, *, workflow_id: str | None = None) -> None:
        """End a subscription (an unknown id is not an error). ``workflow_id``, when given, is the id of the
        subscription's instance: a store that files subscriptions by instance (Redis, by shard) need only
        look there; the others ignore it."""
        ...

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

    def purge_events(self, older_than: datetime, limit: int | None = None) -> int:
        """Delete processed events whose ``event_time`` is before ``older_than`` (with ``limit``, at most
        that many, the oldest first); returns how many."""
        ...

    def mark_event_processed(self, event_id: str) -> None: ...

    def mark_event_unprocessed(self, event_id: str) -> None: ...

    def persist_errors(self, errors: Sequence[ExecutionError]) -> None: ...

    def get_errors(self, workflow_id: str) -> list[ExecutionError]: ...

    def close(self) -> None: ...


@runtime_checkable
class SupportsRevision(Protocol):
    """An optional persistence ability: the stored revision of an instance without loading it.

    ``get_revision`` returns the revision ``persist_workflow`` last stored (None for an unknown id, and
    None while a control request is pending beside the instance: it must be loaded then, to carry it).
    A host that re-queues an instance after ``max_passes`` keeps it and, if the revision is still its
    own, runs it again without loading it (every built-in provider has this ability).
    """

    def get_revision(self, workflow_id: str) -> int | None: ...


@runtime_checkable
class SupportsLoadForRun(Protocol):
    """An optional persistence ability: a cheaper load for the host holding an instance's lock.

    ``get_workflow_instance_to_run`` returns what ``get_workflow_instance`` would, for a caller that holds
    the lock and persists what it changes (the memory provider shares the pointers that have ended
    instead of copying them). Without it, the host loads with ``get_workflow_instance``.
    """

    def get_workflow_instance_to_run(self, workflow_id: str) -> WorkflowInstance: ...


@runtime_checkable
class SupportsEventBatches(Protocol):
    """An optional persistence ability: the reads of an event's delivery made for several events at once
    (one round trip each for a server), with the answers of the single reads in the same order.

    ``get_events_by_id`` is ``get_event`` for each id (None for an unknown one), ``get_subscriptions_many``
    ``get_subscriptions`` for each (name, key, as_of) and ``get_events_many`` ``get_events`` for each
    (name, key, since, until). A host takes a burst of events off the queue and reads them with these;
    without them it makes the single reads.
    """

    def get_events_by_id(self, event_ids: Sequence[str]) -> list[Event | None]: ...

    def get_subscriptions_many(self, queries: Sequence[tuple[str, str, datetime]]) -> list[list[EventSubscription]]: ...

    def get_events_many(self, queries: Sequence[tuple[str, str, datetime, datetime]]) -> list[list[Event]]: ...


@runtime_checkable
class SupportsWaitingReads(Protocol):
    """An optional persistence ability: what waits for an event and what it may receive, in one step.

    ``get_waiting_many`` answers, for each (name, key, as_of, until), the subscriptions
    ``get_subscriptions(name, key, as_of)`` returns and the events ``get_events(name, key, since, until)``
    returns for ``since`` the oldest ``subscribe_as_of`` among them (no events if no subscription waits),
    in the same order. Without it a host makes the two reads one after the other.
    """

    def get_waiting_many(
        self, queries: Sequence[tuple[str, str, datetime, datetime]]
    ) -> list[tuple[list[EventSubscription], list[Event]]]: ...


@runtime_checkable
class SupportsQueuedEvents(Protocol):
    """An optional persistence ability: store an event and queue its id in one step (one round trip),
    for a queue provider that lives with the store.

    ``queued_events(queue)`` returns the function that stores an event (as ``create_event``) and queues
    its id on ``queue``'s event queue (as ``queue_work``), the event stored first; or None if it cannot
    for this queue (another server, a cluster): the host then stores the event, then queues it.
    """

    def queued_events(self, queue: QueueProvider) -> Callable[[Event], None] | None: ...


@runtime_checkable
class SupportsLockedLoads(Protocol):
    """An optional persistence ability: take a workflow's lock and read the instance in one step (one round
    trip), for a lock provider that lives with the store.

    ``locked_loads(lock)`` returns the function that takes ``lock``'s lock on a workflow (as
    ``acquire_lock``, the lock recorded and renewed by ``lock`` as any other) and reads the instance (as
    ``get_workflow_instance``): None if the lock is held by another (nothing read), and
    :class:`~liteflow.core.errors.WorkflowNotFoundError` raised with the lock taken if there is no such
    instance. Or None if it cannot for this lock provider (another server, a cluster): the host then
    takes the lock, then reads.
    """

    def locked_loads(self, lock: LockProvider) -> Callable[[str], WorkflowInstance | None] | None: ...


@runtime_checkable
class SupportsSchedules(Protocol):
    """A persistence provider that stores schedules (every built-in one does).

    ``claim_schedule`` is the one write that makes a due time start exactly one instance: it moves the
    stored ``next_run_time`` from ``due`` to ``next_due`` only if it still is ``due`` (compare-and-set),
    and says whether it did."""

    def save_schedule(self, schedule: Schedule) -> None:
        """Store ``schedule``, replacing one with the same id."""
        ...

    def delete_schedule(self, schedule_id: str) -> bool:
        """Remove a schedule; False if there was none with that id."""
        ...

    def get_schedules(self) -> list[Schedule]:
        """Every stored schedule, by id."""
        ...

    def claim_schedule(self, schedule_id: str, due: datetime, next_due: datetime) -> bool: ...


@runtime_checkable
class SupportsWaitLists(Protocol):
    """A persistence provider that keeps lines of instances waiting for a concurrency slot (every
    built-in one does): per key, workflow ids ordered by a score (their create time), oldest first."""

    def add_waiter(self, key: str, workflow_id: str, score: float) -> None:
        """Put ``workflow_id`` in ``key``'s line (once; adding it again changes nothing)."""
        ...

    def oldest_waiter(self, key: str) -> tuple[str, float] | None:
        """The first in ``key``'s line and its score, or None if nobody waits."""
        ...

    def remove_waiter(self, key: str, workflow_id: str) -> None: ...


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
class BatchDequeue(Protocol):
    """An optional ability of a queue provider: take several ids at once.

    ``dequeue_many`` waits up to ``timeout`` seconds for an id as ``dequeue_work`` does, then returns it with
    up to ``most - 1`` more that are queued already, oldest first, in one step (one round trip for a
    server); an empty list if none came. A host takes events off the queue with it.
    """

    def dequeue_many(self, queue: QueueType, most: int, timeout: float) -> list[str]: ...


@runtime_checkable
class QueueLengths(Protocol):
    """An optional queue ability: how many ids wait in a queue (``liteflow stats`` shows it)."""

    def queue_length(self, queue: QueueType) -> int: ...


@runtime_checkable
class InterruptibleQueue(Protocol):
    """An optional queue ability: ``interrupt`` wakes every ``dequeue_work`` of this provider blocked
    now (it returns None). A stopping host calls it so its workers need not wait out their timeout."""

    def interrupt(self) -> None: ...


@runtime_checkable
class LockProvider(Protocol):
    """Named locks with a lease. A lock is owned by the acquisition that took it: ``release_lock`` frees
    the oldest unreleased acquisition the calling thread made, never a later one made after a lapse. The
    provider keeps renewing the leases of the locks it holds, so a lock frees itself only if its owner
    dies or stalls. The built-in providers also offer ``acquire_lock_token(resource_id) -> str | None``
    and ``release_lock(resource_id, token)`` (see :class:`liteflow.core.lease.LeasedLocks`)."""

    def acquire_lock(self, resource_id: str) -> bool: ...

    def release_lock(self, resource_id: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class HealthCheck(Protocol):
    """An optional ability of a provider: say where its store is and check that it answers.

    ``host.start()`` pings, once, each of its persistence, queue and lock providers that has this
    ability (every built-in one does) and refuses to start if one does not answer; a provider without
    it is taken as it is. Once started, a host rides through outages rather than checking again.
    """

    def describe(self) -> str:
        """Where the store is, for messages: a URL without its password (``redis://host:6379/0``)."""
        ...

    def ping(self, timeout: float) -> None:
        """Return once the store answered; raise :class:`~liteflow.core.errors.ProviderError` naming it
        (see :meth:`describe`) if it does not answer within about ``timeout`` seconds."""
        ...
