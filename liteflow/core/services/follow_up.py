"""What follows a stored change of an instance on the host that stored it: its lifecycle events, the
workflow middleware, the announcement of a child's end, and the wake-up of whoever waits for it."""

from __future__ import annotations

from liteflow.core.engine.outcome import PassResult
from liteflow.core.interfaces import PersistenceProvider, QueueProvider, QueueType
from liteflow.core.lifecycle import LifecycleEvent, WorkflowResumed, WorkflowTerminated
from liteflow.core.models import WorkflowInstance, WorkflowStatus
from liteflow.core.primitives.sub_workflow import announce_completion, ends_child
from liteflow.core.services.control_signal import ControlSignal
from liteflow.core.services.in_progress import InProgress
from liteflow.core.services.lifecycle_dispatch import LifecycleDispatcher
from liteflow.core.services.middleware import WorkflowMiddlewares


class FollowUp:
    """``after_pass`` for a stored execution pass, ``after_control`` for a stored status change."""

    def __init__(
        self,
        persistence: PersistenceProvider,
        queue: QueueProvider,
        lifecycle: LifecycleDispatcher,
        middlewares: WorkflowMiddlewares,
        in_progress: InProgress,
        control_signal: ControlSignal,
    ) -> None:
        #: the stores a child's announcement is written to and queued on (see ``primitives.sub_workflow``)
        self.persistence = persistence
        self.queue = queue
        self.lifecycle = lifecycle
        self.middlewares = middlewares
        self.in_progress = in_progress
        self.control_signal = control_signal

    def after_pass(self, instance: WorkflowInstance, result: PassResult, before: WorkflowStatus) -> None:
        self.lifecycle.emit(result.events)
        self.middlewares.run_quietly("execute", instance)
        if instance.status is WorkflowStatus.COMPLETE and before is not WorkflowStatus.COMPLETE:
            self.middlewares.run_quietly("post", instance)
        if ends_child(instance, before):  # completed or terminated: announced before it was stored
            announce_completion(self, instance, prepared=True)
        self.in_progress.notify_changed(instance.id, instance.status)

    def after_control(self, instance: WorkflowInstance, events: list[LifecycleEvent], queue: bool = True) -> None:
        """After a status change was stored outside a pass (by a caller, or by a worker before a pass:
        ``queue=False``, it runs a resumed instance itself)."""
        self.lifecycle.emit(events)
        if instance.parent_workflow_id is not None and any(isinstance(e, WorkflowTerminated) for e in events):
            announce_completion(self, instance, prepared=True)  # written before the end was stored
        if queue and instance.status is WorkflowStatus.RUNNABLE and any(isinstance(e, WorkflowResumed) for e in events):
            self.queue.queue_work(instance.id, QueueType.WORKFLOW)
        self.in_progress.notify_changed(instance.id, instance.status)
        self.control_signal.applied()
