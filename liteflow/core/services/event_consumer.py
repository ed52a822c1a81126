"""Taking a published event off the queue and handing it to every workflow waiting for it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from liteflow.core.engine.events import deliver, oldest_event_among, waiting_pointer
from liteflow.core.errors import WorkflowNotFoundError
from liteflow.core.interfaces import QueueType
from liteflow.core.log import logger
from liteflow.core.models import Event, EventSubscription, WorkflowInstance, WorkflowStatus, utcnow
from liteflow.core.services.event_intake import ReadEvent, read_events
from liteflow.core.services.runtime import Runtime
from liteflow.core.services.workflow_consumer import Delivery, WorkflowConsumer, store_delivery

#: ``run_woken(instance, run_held)``: run a woken instance on a free workflow slot (see ``services.workers``)
RunWoken = Callable[[WorkflowInstance, Callable[[WorkflowInstance], None]], bool]

log = logger("event_consumer")


#: Most events whose retries are counted at once (the oldest are forgotten: they start again at the first delay).
_MOST_RETRIED = 10_000


class EventConsumer:
    """Matches an event to subscriptions by name, key and as-of time; each matching waiting pointer
    receives the oldest event it has not consumed. The event is marked processed once every delivery
    is stored.

    An event whose workflow is locked by a worker of this host is left to that worker, which takes it
    after its pass (see ``InProgress.defer_event``); one locked elsewhere is tried again after
    ``event_retry_delay``, doubled on every attempt up to ``poll_interval``. The last workflow woken here
    is run here at once if a workflow slot is free (``run_woken``: ``Workers.run_woken``), its delivery
    stored with its first pass (one write, not two), else the delivery is stored and it is queued.
    """

    def __init__(self, runtime: Runtime, workflows: WorkflowConsumer, run_woken: RunWoken) -> None:
        self.runtime = runtime
        self.workflows = workflows
        self.run_woken = run_woken
        #: event id -> failed attempts so far, oldest first
        self._attempts: dict[str, int] = {}
        self._mutex = threading.Lock()

    def process(self, event_id: str) -> None:
        """Read one event and deliver it (see :meth:`deliver`)."""
        for read in read_events(self.runtime, [event_id]):
            self.deliver(read)

    def deliver(self, read: ReadEvent, may_run: bool = True) -> None:
        """Deliver one event, read with what waits for it; with ``may_run``, the last workflow it wakes may
        run on this thread (see ``run_woken``), else it is queued. No lock is taken on the event: two workers that
        take the same event at once (queued again by a poller meanwhile) each lock the workflows they
        deliver to, and a workflow's lock holder delivers only an event it has not consumed, so the event
        is delivered once per subscription either way; the loser of a workflow's lock tries again, and
        finds it done."""
        event_id = read.event.id
        subscriptions = read.subscriptions
        last = len(subscriptions) - 1 if may_run else -1  # the last woken workflow may run here; the others are queued
        held: Delivery | None = None
        outcomes: list[bool | Delivery] = []
        try:
            for i, subscription in enumerate(subscriptions):
                outcome = self.seed(subscription, read.events, keep=i == last)
                outcomes.append(outcome)
                if isinstance(outcome, Delivery):
                    held = outcome
        except BaseException:
            if held is not None:  # its delivery was not stored: the event stays unprocessed
                self.runtime.lock.release_lock(held.instance.id)
            raise
        locked = [s.workflow_id for s, outcome in zip(subscriptions, outcomes, strict=True) if outcome is False]
        self._finish(event_id, held, locked)

    def _finish(self, event_id: str, held: Delivery | None, locked: list[str]) -> None:
        """After the deliveries: mark the event processed if every delivery is stored, else try it again for
        the workflows that were locked (before running the held instance, which may take a while); run the
        held instance."""
        if locked:
            self._retry(event_id, locked)
        if held is None:
            if not locked:
                self._processed(event_id)
            return
        if not locked:  # marked processed right after the write that stores the last delivery
            held.on_stored = lambda: self._processed(event_id)
        if not self._run_delivered(held) and not locked:
            self._retry(event_id, [held.instance.id])

    def _processed(self, event_id: str) -> None:
        self.runtime.persistence.mark_event_processed(event_id)
        self._forget(event_id)

    def _run_delivered(self, held: Delivery) -> bool:
        """Run an instance the event was delivered to (locked, the delivery not stored yet) on a free
        workflow slot: its first stored pass stores the delivery with it. Without a free slot, store the
        delivery, unlock and queue it. True if the delivery was stored."""
        instance = held.instance
        if self.run_woken(instance, lambda woken: self.workflows.run_held(woken, held)):
            return bool(held.stored)
        runtime = self.runtime
        stored = control_waits = False
        try:
            stored, control_waits = store_delivery(runtime, instance, held.subscription.id)
        finally:
            runtime.lock.release_lock(instance.id)
        held.tried(stored)
        if stored or control_waits:
            runtime.queue.queue_work(instance.id, QueueType.WORKFLOW)
        return stored

    def _retry(self, event_id: str, locked: list[str]) -> None:
        """Some workflows of the event were locked: leave it to their workers here, or try it again later."""
        runtime = self.runtime
        deferred = [runtime.in_progress.defer_event(workflow_id, event_id) for workflow_id in locked]
        if all(deferred):
            return
        with self._mutex:
            attempts = self._attempts.pop(event_id, 0)
            self._attempts[event_id] = attempts + 1
            while len(self._attempts) > _MOST_RETRIED:
                del self._attempts[next(iter(self._attempts))]
        delay = min(runtime.options.event_retry_delay * 2 ** min(attempts, 30), runtime.options.poll_interval)
        runtime.scheduler.wake_after(delay, event_id, QueueType.EVENT)

    def _forget(self, event_id: str) -> None:
        if self._attempts:
            with self._mutex:
                self._attempts.pop(event_id, None)

    def seed(self, subscription: EventSubscription, events: list[Event], keep: bool = False) -> bool | Delivery:
        """Deliver to one subscription the oldest of ``events`` (those of its name and key, read before its
        workflow was locked) it may receive. False if its workflow is locked (try again later); otherwise True,
        or, with ``keep`` and a workflow the event makes runnable, a :class:`Delivery`: the instance, still
        locked, with the event delivered but not stored, for the caller to run on a free slot (its first
        pass stores the delivery) or to store, unlock and queue."""
        runtime = self.runtime
        workflow_id = subscription.workflow_id
        if runtime.in_progress.running(workflow_id):
            return False  # a worker of this host runs it (though its lock lapsed, say): left to that worker
        kept = stored = control_waits = False
        try:
            instance = runtime.locked_instance(workflow_id, runtime.persistence.get_workflow_instance)
        except WorkflowNotFoundError:  # the lock is taken
            try:
                runtime.persistence.terminate_subscription(subscription.id, workflow_id=workflow_id)
            finally:
                runtime.lock.release_lock(workflow_id)
            return True
        if instance is None:
            return False  # locked: try again later
        try:
            pointer = waiting_pointer(instance, subscription)
            if pointer is None or instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
                runtime.persistence.terminate_subscription(subscription.id, workflow_id=workflow_id)
                return True
            event = oldest_event_among(events, subscription, instance)
            if event is None:
                return True
            deliver(instance, pointer, event, utcnow())
            if instance.status is WorkflowStatus.RUNNABLE and keep:
                kept = True
                return Delivery(instance, subscription, event)
            if instance.status is not WorkflowStatus.RUNNABLE:
                instance.next_execution = None
            stored, control_waits = store_delivery(runtime, instance, subscription.id)
            if not stored:
                return False
        finally:
            if not kept:
                runtime.lock.release_lock(workflow_id)
            if control_waits:  # a status change waits for whoever holds the lock next: a worker
                runtime.queue.queue_work(workflow_id, QueueType.WORKFLOW)
        if instance.status is WorkflowStatus.RUNNABLE:
            runtime.queue.queue_work(workflow_id, QueueType.WORKFLOW)
        return True
