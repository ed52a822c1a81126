"""What the engine's services need from the host that assembles them: :class:`Runtime`.

The workflow and event consumers, the poller, control, retention and the outage retries take a
``Runtime``, never ``WorkflowHost``: they depend on the providers, registry, scheduler and the few
callbacks named here, and ``WorkflowHost`` (the user-facing facade) satisfies it structurally.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.executor import WorkflowExecutor
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.registry import WorkflowRegistry
from liteflow.core.interfaces import LockProvider
from liteflow.core.lifecycle import LifecycleEvent
from liteflow.core.models import WorkflowInstance, WorkflowStatus
from liteflow.core.primitives.sub_workflow import ChildHost
from liteflow.core.services.concurrency import ConcurrencySlots
from liteflow.core.services.options import HostOptions
from liteflow.core.services.scheduler import WakeupScheduler


class Follower(Protocol):
    """Sees a control request through should its lock holder release the lock without storing again."""

    def follow(self, workflow_id: str, action: str, request: str) -> None: ...


class Runtime(ChildHost, Protocol):
    """The providers, registry, options and scheduler of a host, and what its workers report back; a
    :class:`~liteflow.core.primitives.sub_workflow.ChildHost` too (its ``persistence``, ``queue`` and
    ``start_instance``), as the services announce a child's end with it."""

    lock: LockProvider
    options: HostOptions
    registry: WorkflowRegistry
    scheduler: WakeupScheduler
    concurrency: ConcurrencySlots
    executor: WorkflowExecutor
    #: ``persistence``'s load for a lock holder (``SupportsLoadForRun``, else ``get_workflow_instance``)
    load_for_run: Callable[[str], WorkflowInstance]
    #: ``persistence.get_revision`` if it has ``SupportsRevision``, else None
    revision_of: Callable[[str], int | None] | None

    @property
    def control_follower(self) -> Follower: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def stop_event(self) -> threading.Event: ...

    def rebuild_data(self, instance: WorkflowInstance, definition: WorkflowDefinition | None) -> None: ...

    def after_pass(self, instance: WorkflowInstance, result: PassResult, before: WorkflowStatus) -> None: ...

    def after_control(self, instance: WorkflowInstance, events: list[LifecycleEvent], queue: bool = True) -> None: ...

    def has_workflow_middleware(self, phase: str) -> bool: ...

    def run_woken(self, instance: WorkflowInstance, run_held: Callable[[WorkflowInstance], None]) -> bool: ...

    def defer_event(self, workflow_id: str, event_id: str) -> bool: ...

    def take_deferred_events(self, workflow_id: str) -> list[str]: ...

    def control_applied(self) -> None: ...

    def wait_for_control(self, timeout: float) -> None: ...

    def processing_ids(self) -> set[str]: ...
