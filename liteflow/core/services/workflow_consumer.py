"""Taking a workflow id off the queue and running the instance while it has work due now."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from liteflow.core.changes import forget
from liteflow.core.engine.events import deliver, oldest_event_for, waiting_pointer
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.unstorable import fail_unstorable
from liteflow.core.errors import ConcurrencyError, SerializationError, WorkflowNotFoundError
from liteflow.core.interfaces import PersistenceProvider, QueueType
from liteflow.core.lifecycle import WorkflowCompleted, WorkflowSuspended, WorkflowTerminated
from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance, WorkflowStatus, to_millis, utcnow

if TYPE_CHECKING:
    from liteflow.core.services.host import WorkflowHost

log = logger("workflow_consumer")
_STATUS_EVENTS = (WorkflowCompleted, WorkflowSuspended, WorkflowTerminated)


def load_to_run(persistence: PersistenceProvider, workflow_id: str) -> WorkflowInstance:
    """The instance, for a caller holding its lock. A provider may offer ``get_workflow_instance_to_run``,
    a cheaper load for that case (the memory provider shares finished pointers); else the ordinary get."""
    load = getattr(persistence, "get_workflow_instance_to_run", None) or persistence.get_workflow_instance
    instance: WorkflowInstance = load(workflow_id)
    return instance


def due(instance: WorkflowInstance, now_ms: int) -> bool:
    return (
        instance.status is WorkflowStatus.RUNNABLE
        and instance.next_execution is not None
        and instance.next_execution <= now_ms
    )


#: Most instances kept parked, and for how long (see WorkflowConsumer): an instance re-queued here but run
#: next by another host is never taken back, so the oldest go first.
_MOST_PARKED = 1024
_PARKED_SECONDS = 30.0


class WorkflowConsumer:
    """Locks an instance, runs passes (persisting after each) until nothing is due, then unlocks.

    An instance re-queued after ``max_passes`` (to let others run) is parked here, exactly as stored, and
    taken up again by the next run if the stored revision is still its own: with a provider that offers
    ``get_revision`` (all three built-in ones), a long-running loop is not loaded again, history and
    all, every ``max_passes`` passes.
    """

    def __init__(self, host: WorkflowHost) -> None:
        self.host = host
        #: workflow id -> (when parked, the instance), oldest first
        self._parked: dict[str, tuple[float, WorkflowInstance]] = {}
        self._revision_of = getattr(host.persistence, "get_revision", None)

    def _load(self, workflow_id: str) -> WorkflowInstance:
        _, parked = self._parked.pop(workflow_id, (0.0, None))
        if parked is not None and self._revision_of is not None and self._revision_of(workflow_id) == parked.revision:
            return parked
        return load_to_run(self.host.persistence, workflow_id)

    def _park(self, instance: WorkflowInstance) -> None:
        if self._revision_of is None or self.host.has_workflow_middleware("execute"):
            return  # "execute" middleware runs after the store: what it changes is not stored
        now = time.monotonic()
        parked = self._parked
        try:
            while parked and (len(parked) >= _MOST_PARKED or next(iter(parked.values()))[0] < now - _PARKED_SECONDS):
                parked.pop(next(iter(parked)), None)
        except (RuntimeError, StopIteration):  # another worker changed it meanwhile: evict next time
            pass
        parked[instance.id] = (now, instance)

    def process(self, workflow_id: str) -> None:
        host = self.host
        if not host.lock.acquire_lock(workflow_id):
            return  # another worker or host is on it; it re-queues what stays due
        instance: WorkflowInstance | None = None
        requeue = False
        try:
            instance = self._load(workflow_id)
            requeue = self.run(instance)
            if requeue:  # stopped only for fairness, with nothing changed since it was stored
                self._park(instance)
        except WorkflowNotFoundError:
            log.warning("workflow.not_found", workflow_id=workflow_id)
        finally:
            host.lock.release_lock(workflow_id)
        if instance is not None:
            self.follow_up(instance, requeue)

    def run_held(self, instance: WorkflowInstance) -> None:
        """``process`` for a caller that already holds the instance's lock and has just loaded (and
        persisted) it: runs it, then releases the lock."""
        requeue = False
        try:
            requeue = self.run(instance)
        finally:
            self.host.lock.release_lock(instance.id)
        self.follow_up(instance, requeue)

    def follow_up(self, instance: WorkflowInstance, requeue: bool) -> None:
        """After the lock is released: queue the instance again, or set a timer for when it is due."""
        host = self.host
        if requeue:
            host.queue.queue_work(instance.id, QueueType.WORKFLOW)
        elif instance.status is WorkflowStatus.RUNNABLE and instance.next_execution is not None:
            host.scheduler.wake_after(
                (instance.next_execution - to_millis(utcnow())) / 1000, instance.id, QueueType.WORKFLOW
            )

    def run(self, instance: WorkflowInstance) -> bool:
        """Run passes while work is due; True if it stopped only because of ``max_passes``."""
        host = self.host
        definition = host.registry.find(instance.workflow_definition_id, instance.version)
        if definition is None:
            log.error(
                "workflow.definition_missing",
                workflow_id=instance.id,
                definition_id=instance.workflow_definition_id,
                version=instance.version,
            )
            return False
        host.rebuild_data(instance, definition)
        for _ in range(host.options.max_passes):
            if not due(instance, to_millis(utcnow())):
                return False
            was_runnable = instance.status
            result = host.executor.execute(instance, definition)
            try:
                saved = self.save(instance, result)
            except SerializationError as exc:  # a step left what no store takes: it failed instead
                fail_unstorable(host, instance.id, definition, result.ran, exc)
                return False
            if not saved:
                return False
            host.after_pass(instance, result, was_runnable)
            if not self.pull_events(instance, result) or not host.apply_control_request(instance):
                return False  # changed but not stored: whoever stored a newer state carries on from it
        return due(instance, to_millis(utcnow()))

    def save(self, instance: WorkflowInstance, result: PassResult) -> bool:
        """Persist the pass (compare-and-set). A status change made meanwhile by suspend/terminate is
        applied on top; any other newer state wins and this pass is dropped."""
        persistence = self.host.persistence
        try:
            persistence.persist_workflow(instance, result.subscriptions, result.ended_subscriptions)
        except ConcurrencyError:
            fresh = persistence.get_workflow_instance(instance.id)
            if not (fresh.revision == instance.revision + 1 and fresh.status is not WorkflowStatus.RUNNABLE):
                log.warning("workflow.persist_conflict", workflow_id=instance.id, revision=instance.revision)
                return False
            if instance.status is not WorkflowStatus.TERMINATED or fresh.status is WorkflowStatus.TERMINATED:
                # the change made meanwhile wins: what this pass did to the status (complete, suspend,
                # terminate) did not happen, nor do its events
                instance.status = fresh.status
                instance.complete_time = fresh.complete_time
                result.events[:] = [e for e in result.events if not isinstance(e, _STATUS_EVENTS)]
            instance.next_execution = None
            instance.revision = fresh.revision
            forget(instance)  # stored whole: whoever stored ``fresh`` may have changed any pointer
            try:
                persistence.persist_workflow(instance, result.subscriptions, result.ended_subscriptions)
            except ConcurrencyError:
                log.warning("workflow.persist_conflict", workflow_id=instance.id, revision=instance.revision)
                return False
        if result.errors:
            persistence.persist_errors(result.errors)
        return True

    def pull_events(self, instance: WorkflowInstance, result: PassResult) -> bool:
        """New subscriptions take events published before they were made (oldest first). False if events
        were delivered to ``instance`` but could not be persisted."""
        if not result.subscriptions:
            return True
        persistence = self.host.persistence
        now = utcnow()
        delivered = []
        for subscription in result.subscriptions:
            pointer = waiting_pointer(instance, subscription)
            if pointer is None:
                continue
            event = oldest_event_for(persistence, subscription, instance, now)
            if event is not None:
                deliver(instance, pointer, event, now)
                delivered.append(subscription.id)
        if not delivered:
            return True
        if instance.status is not WorkflowStatus.RUNNABLE:
            instance.next_execution = None
        return self.save(instance, PassResult(ended_subscriptions=delivered))
