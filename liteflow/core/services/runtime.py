"""The engine a host is assembled from: :class:`Runtime`.

It owns the providers (and their optional abilities, looked up once here), the registry, the options,
the wake-up timers, the concurrency slots, the async runner, the executor, the lifecycle dispatcher and
the middleware chains, and the small collaborators the workers report to, each with one job:

* ``rebuild_data`` (``services.data_rebuild``): JSON data back as the class this process knows;
* ``in_progress`` (``services.in_progress``): what the workers run now, the events left to them, the waits;
* ``follow_up`` (``services.follow_up``): what follows a stored pass or status change;
* ``control_signal`` (``services.control_signal``): workers applying a status change wake its callers;
* ``starter`` (``services.starter``): creating and queueing new instances.

The workers (``services.workers``), consumers, poller, control, retention and outage retries take a
``Runtime`` or the part of it they need, never the host: an instance id moves from the queue through
the consumer, the executor, the store and the follow-up without turning back to ``WorkflowHost``, the
user-facing facade that assembles a ``Runtime`` and delegates to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from liteflow.core.engine.executor import StepMiddleware, WorkflowExecutor
from liteflow.core.engine.registry import WorkflowRegistry
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.errors import WorkflowNotFoundError
from liteflow.core.interfaces import (
    InterruptibleQueue,
    LockProvider,
    PersistenceProvider,
    QueueProvider,
    SupportsEventBatches,
    SupportsLoadForRun,
    SupportsLockedLoads,
    SupportsQueuedEvents,
    SupportsRevision,
    SupportsWaitingReads,
)
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.models import Event, WorkflowInstance
from liteflow.core.services.async_runner import AsyncRunner
from liteflow.core.services.concurrency import ConcurrencySlots
from liteflow.core.services.control_signal import ControlSignal
from liteflow.core.services.data_rebuild import DataRebuild
from liteflow.core.services.follow_up import FollowUp
from liteflow.core.services.in_progress import InProgress
from liteflow.core.services.lifecycle_dispatch import LifecycleDispatcher
from liteflow.core.services.middleware import WorkflowMiddlewares
from liteflow.core.services.options import HostOptions
from liteflow.core.services.scheduler import WakeupScheduler
from liteflow.core.services.starter import InstanceStarter


class Runtime:
    """A host's engine: what its workers run with. ``step_host`` is what running steps see as
    ``context.host`` (the facade, for user code and ``sub_workflow``); the engine's services never call
    it, only the steps they run do."""

    def __init__(
        self,
        host_id: str,
        persistence: PersistenceProvider,
        queue: QueueProvider,
        lock: LockProvider,
        options: HostOptions,
        lifecycle_hub: LifecycleHub | None = None,
        step_host: Any = None,
    ) -> None:
        self.id = host_id
        self.persistence = persistence
        self.queue = queue
        self.lock = lock
        self.options = options
        #: the providers' optional abilities (see ``interfaces``), looked up once here
        self.load_for_run: Callable[[str], WorkflowInstance] = (
            persistence.get_workflow_instance_to_run
            if isinstance(persistence, SupportsLoadForRun)
            else persistence.get_workflow_instance
        )
        self.revision_of: Callable[[str], int | None] | None = (
            persistence.get_revision if isinstance(persistence, SupportsRevision) else None
        )
        self.interrupt: Callable[[], None] | None = queue.interrupt if isinstance(queue, InterruptibleQueue) else None
        #: the store's batched event reads, if it has them
        self.event_batches: SupportsEventBatches | None = (
            persistence if isinstance(persistence, SupportsEventBatches) else None
        )
        #: the store's read of what waits for an event and what it may receive, in one step, if it has it
        self.waiting_reads: SupportsWaitingReads | None = (
            persistence if isinstance(persistence, SupportsWaitingReads) else None
        )
        #: stores an event and queues it in one step, where the store can for this queue
        self.create_queued_event: Callable[[Event], None] | None = (
            persistence.queued_events(queue) if isinstance(persistence, SupportsQueuedEvents) else None
        )
        #: takes a workflow's lock and reads it in one step, where the store can for this lock provider
        self.lock_and_load: Callable[[str], WorkflowInstance | None] | None = (
            persistence.locked_loads(lock) if isinstance(persistence, SupportsLockedLoads) else None
        )
        self.registry = WorkflowRegistry()
        self.scheduler = WakeupScheduler(queue)
        self.concurrency = ConcurrencySlots(lock, persistence, queue)
        self.async_runner = AsyncRunner()
        self.lifecycle = LifecycleDispatcher(host_id, lifecycle_hub)
        self.step_middleware: list[StepMiddleware] = []
        self.workflow_middleware = WorkflowMiddlewares()
        self.executor = WorkflowExecutor(
            EngineSettings(options.retry_interval, options.default_error_behavior),
            self.async_runner.run,
            self.step_middleware,
            host=step_host,
            wants_step_events=self.lifecycle.wants_step_events,
        )
        self.rebuild_data = DataRebuild(persistence, self.registry)
        self.in_progress = InProgress(queue)
        self.control_signal = ControlSignal()
        self.follow_up = FollowUp(
            persistence, queue, self.lifecycle, self.workflow_middleware, self.in_progress, self.control_signal
        )
        self.starter = InstanceStarter(self.registry, persistence, queue, self.workflow_middleware, self.lifecycle)
        #: set once the workers are told to stop (a fresh one for every start: see ``services.workers``)
        self.stop_event = threading.Event()

    def locked_instance(
        self, workflow_id: str, load: Callable[[str], WorkflowInstance], one_step: bool = True
    ) -> WorkflowInstance | None:
        """Take the workflow's lock, then read it with ``load``: None if the lock is held by another
        (nothing read). If there is no such instance, WorkflowNotFoundError is raised with the lock taken
        (the caller releases it); any other failure leaves it released. With ``one_step``, the store's
        ``lock_and_load`` instead where it has one (one round trip): only for a ``load`` that reads the
        stored instance as ``get_workflow_instance`` does (``load_for_run`` is that read for every store
        with ``lock_and_load``)."""
        if one_step and self.lock_and_load is not None:
            return self.lock_and_load(workflow_id)
        if not self.lock.acquire_lock(workflow_id):
            return None
        try:
            return load(workflow_id)
        except WorkflowNotFoundError:
            raise
        except BaseException:
            self.lock.release_lock(workflow_id)
            raise

    @property
    def stopping(self) -> bool:
        """True once the workers were told to stop (until they start again): they take no new pass."""
        return self.stop_event.is_set()
