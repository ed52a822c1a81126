"""Taking a published event off the queue and handing it to every workflow waiting for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liteflow.core.engine.events import deliver, oldest_event_for, waiting_pointer
from liteflow.core.errors import ConcurrencyError, ControlRequested, WorkflowNotFoundError
from liteflow.core.interfaces import QueueType
from liteflow.core.log import logger
from liteflow.core.models import EventSubscription, WorkflowInstance, WorkflowStatus, utcnow

if TYPE_CHECKING:
    from liteflow.core.services.host import WorkflowHost
    from liteflow.core.services.workflow_consumer import WorkflowConsumer

log = logger("event_consumer")


class EventConsumer:
    """Matches an event to subscriptions by name, key and as-of time; each matching waiting pointer
    receives the oldest event it has not consumed. An event whose workflow is busy is tried again soon."""

    def __init__(self, host: WorkflowHost, workflows: WorkflowConsumer) -> None:
        self.host = host
        self.workflows = workflows

    def process(self, event_id: str) -> None:
        host = self.host
        lock_id = f"evt:{event_id}"
        if not host.lock.acquire_lock(lock_id):
            return
        held: WorkflowInstance | None = None
        try:
            try:
                event = host.persistence.get_event(event_id)
            except KeyError:
                return
            if event.is_processed:
                return
            now = utcnow()
            if event.event_time > now:
                host.scheduler.wake_after((event.event_time - now).total_seconds(), event_id, QueueType.EVENT)
                return
            subscriptions = host.persistence.get_subscriptions(event.event_name, event.event_key, event.event_time)
            last = len(subscriptions) - 1  # the last woken workflow runs here; the others go to the workers
            outcomes = [self.seed(subscription, keep=i == last) for i, subscription in enumerate(subscriptions)]
            if outcomes and isinstance(outcomes[-1], WorkflowInstance):
                held = outcomes[-1]
            if all(outcome is not False for outcome in outcomes):
                host.persistence.mark_event_processed(event_id)
            else:
                host.scheduler.wake_after(host.options.event_retry_delay, event_id, QueueType.EVENT)
        except BaseException:
            if held is not None:
                host.lock.release_lock(held.id)
            raise
        finally:
            host.lock.release_lock(lock_id)
        if held is not None:  # the shortest path from an event to the steps after the wait
            host.begin_processing(held.id)
            try:
                self.workflows.run_held(held)
            finally:
                host.finished_processing(held.id)

    def seed(self, subscription: EventSubscription, keep: bool = False) -> bool | WorkflowInstance:
        """Deliver to one subscription. False if its workflow is locked (try again later); otherwise True,
        or, with ``keep`` and a workflow now runnable, that instance, still locked, for the caller to run
        (and unlock) itself, instead of unlocking it and queueing it for a workflow worker."""
        host = self.host
        workflow_id = subscription.workflow_id
        if not host.lock.acquire_lock(workflow_id):
            return False
        kept = control_waits = False
        try:
            try:
                instance = host.persistence.get_workflow_instance(workflow_id)
            except WorkflowNotFoundError:
                host.persistence.terminate_subscription(subscription.id)
                return True
            pointer = waiting_pointer(instance, subscription)
            if pointer is None or instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
                host.persistence.terminate_subscription(subscription.id)
                return True
            now = utcnow()
            event = oldest_event_for(host.persistence, subscription, instance, now)
            if event is None:
                return True
            deliver(instance, pointer, event, now)
            if instance.status is not WorkflowStatus.RUNNABLE:
                instance.next_execution = None
            try:
                host.persistence.persist_workflow(instance, ended_subscriptions=[subscription.id])
            except ControlRequested:  # a status change waits for whoever holds the lock next: a worker
                control_waits = True
                return False
            except ConcurrencyError:
                return False
            if instance.status is not WorkflowStatus.RUNNABLE:
                return True
            if keep:
                kept = True
                return instance
        finally:
            if not kept:
                host.lock.release_lock(workflow_id)
            if control_waits:
                host.queue.queue_work(workflow_id, QueueType.WORKFLOW)
        host.queue.queue_work(workflow_id, QueueType.WORKFLOW)
        return True
