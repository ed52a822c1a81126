"""Taking a workflow id off the queue and running the instance while it has work due now."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from liteflow.core.control_state import mark_control, pending_control
from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.events import deliver, oldest_event_for, waiting_pointer
from liteflow.core.engine.limits import deadline_of
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.recheck import RunRechecks
from liteflow.core.engine.unstorable import fail_unstorable
from liteflow.core.errors import (
    ConcurrencyError,
    ControlRequested,
    ProviderError,
    SerializationError,
    WorkflowNotFoundError,
)
from liteflow.core.interfaces import QueueType
from liteflow.core.log import logger
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionPointer,
    WorkflowInstance,
    WorkflowStatus,
    to_millis,
    utcnow,
)
from liteflow.core.primitives.sub_workflow import ends_child, prepare_announcement, settled_announcement
from liteflow.core.services import control
from liteflow.core.services.missing_definitions import MissingDefinitions
from liteflow.core.services.outage import ride_out, through_outage
from liteflow.core.services.runtime import Runtime

log = logger("workflow_consumer")


def persist(
    runtime: Runtime, instance: WorkflowInstance, result: PassResult, control_applied: str | None = None
) -> None:
    """Store a pass (compare-and-set), riding out a store outage (see ``services.outage``)."""
    persistence = runtime.persistence
    try:
        persistence.persist_workflow(instance, result.subscriptions, result.ended_subscriptions, control_applied)
    except ProviderError as exc:
        ride_out(
            runtime,
            "persist_workflow",
            lambda: persistence.persist_workflow(
                instance, result.subscriptions, result.ended_subscriptions, control_applied
            ),
            instance.id,
            exc,
        )


def store_delivery(runtime: Runtime, instance: WorkflowInstance, subscription_id: str) -> tuple[bool, bool]:
    """Store an instance an event was just delivered to, ending the subscription: (stored, a status
    change is pending, so the instance must be queued for a worker to apply it; nothing was stored)."""
    try:
        runtime.persistence.persist_workflow(instance, ended_subscriptions=[subscription_id])
    except ControlRequested:
        return False, True
    except ConcurrencyError:
        return False, False
    return True, False


def due(instance: WorkflowInstance, now_ms: int) -> bool:
    return (
        instance.status is WorkflowStatus.RUNNABLE
        and instance.next_execution is not None
        and instance.next_execution <= now_ms
    )


@dataclass
class Delivery:
    """``event`` delivered to the pointer of ``subscription`` in a locked instance but not stored yet: the
    instance's next save (by the thread holding this very instance object) stores the delivery, ending
    the subscription, with whatever the pass changed. ``stored``: None until a save or a delivery-only
    write was tried, then whether it succeeded; ``on_stored`` is called once it did (by the event
    consumer: the event is marked processed right after the write that delivered it)."""

    instance: WorkflowInstance
    subscription: EventSubscription
    event: Event
    stored: bool | None = None
    on_stored: Callable[[], None] | None = None

    def tried(self, stored: bool) -> None:
        self.stored = stored
        if stored and self.on_stored is not None:
            try:
                self.on_stored()
            except Exception as exc:  # the delivery is stored: at worst the event is taken again, and skipped
                log.warning("event.mark_failed", workflow_id=self.instance.id, error=f"{type(exc).__name__}: {exc}")


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

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        #: workflow id -> (when parked, the instance), oldest first
        self._parked: dict[str, tuple[float, WorkflowInstance]] = {}
        self._revision_of = runtime.revision_of
        #: id() of an instance object being run -> the delivery its next save stores (see ``run_held``); by
        #: object, not workflow id: after a lapsed lock another thread may run its own copy of the instance
        self._deliveries: dict[int, Delivery] = {}
        #: ids of the instances last stored due again only for a recheck (see ``engine.recheck``): the
        #: runnable poller finds them, so ``follow_up`` sets no timer (a wait the event ends sooner costs
        #: nothing)
        self._rechecks: set[str] = set()
        self.missing = MissingDefinitions(runtime.options.poll_interval, runtime.options.max_concurrent_workflows + 1)

    def _take(self, workflow_id: str) -> WorkflowInstance | None:
        """Lock and load an instance to run (see ``Runtime.locked_instance``): the one parked here if it is
        still the one stored (the lock, then a revision check: a long history is not read again), else
        the store's, in one round trip where the store can."""
        runtime = self.runtime
        if workflow_id in self._parked:
            return runtime.locked_instance(workflow_id, self._load_parked, one_step=False)
        return runtime.locked_instance(workflow_id, runtime.load_for_run)

    def _load_parked(self, workflow_id: str) -> WorkflowInstance:
        _, parked = self._parked.pop(workflow_id, (0.0, None))
        if parked is not None and self._revision_of is not None and self._revision_of(workflow_id) == parked.revision:
            return parked
        return self.runtime.load_for_run(workflow_id)

    def _park(self, instance: WorkflowInstance) -> None:
        if self._revision_of is None or self.runtime.workflow_middleware.has("execute"):
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
        runtime = self.runtime
        if self.missing.known(workflow_id):  # no definition here: not even loaded again in this window
            self._hand_back(workflow_id)
            return
        try:
            instance = self._take(workflow_id)
        except WorkflowNotFoundError:
            runtime.lock.release_lock(workflow_id)
            log.warning("workflow.not_found", workflow_id=workflow_id)
            return
        if instance is None:
            return  # another worker or host is on it; it re-queues what stays due
        requeue: bool | None = False
        try:
            requeue = self.run_limited(instance)
            if requeue:  # stopped only for fairness, with nothing changed since it was stored
                self._park(instance)
        except WorkflowNotFoundError:
            log.warning("workflow.not_found", workflow_id=workflow_id)
        finally:
            runtime.lock.release_lock(workflow_id)
        if requeue is not None:
            self.follow_up(instance, requeue)

    def run_held(self, instance: WorkflowInstance, delivery: Delivery | None = None) -> None:
        """``process`` for a caller that already holds the instance's lock and has just loaded (and
        stored) it, or, with ``delivery``, delivered an event to it that its first save (of a pass, or of
        a status change applied before one) stores: runs it, then releases the lock. A delivery no save
        took (no pass ran: no definition here, no concurrency slot, stopping) is stored on its own; one
        whose run raised first is not stored (the event stays unprocessed and is delivered again)."""
        requeue: bool | None = False
        control_waits = False
        if delivery is not None:
            self._deliveries[id(instance)] = delivery
        try:
            requeue = self.run_limited(instance)
            if delivery is not None and self._deliveries.pop(id(instance), None) is not None:
                stored, control_waits = store_delivery(self.runtime, instance, delivery.subscription.id)
                delivery.tried(stored)
        finally:
            if delivery is not None:
                self._deliveries.pop(id(instance), None)  # a pass that raised: nothing more is stored
            self.runtime.lock.release_lock(instance.id)
        if control_waits:
            self.runtime.queue.queue_work(instance.id, QueueType.WORKFLOW)
        if requeue is not None:
            self.follow_up(instance, requeue)

    def _store_delivery_alone(self, workflow_id: str, delivery: Delivery) -> None:
        """Store a delivery whose pass could not be stored, on the instance as stored (before that pass)."""
        try:
            stored = self.runtime.persistence.get_workflow_instance(workflow_id)
        except WorkflowNotFoundError:
            return
        pointer = waiting_pointer(stored, delivery.subscription)
        if pointer is None:
            return
        deliver(stored, pointer, delivery.event, utcnow())
        if stored.status is not WorkflowStatus.RUNNABLE:
            stored.next_execution = None
        delivery.tried(store_delivery(self.runtime, stored, delivery.subscription.id)[0])

    def follow_up(self, instance: WorkflowInstance, requeue: bool) -> None:
        """After the lock is released: queue the instance again, or set a timer for when it is due."""
        runtime = self.runtime
        if self.missing.known(instance.id):
            self._hand_back(instance.id)
        elif requeue:
            runtime.queue.queue_work(instance.id, QueueType.WORKFLOW)
        elif instance.id in self._rechecks:
            self._rechecks.discard(instance.id)
        elif instance.status is WorkflowStatus.RUNNABLE and instance.next_execution is not None:
            runtime.scheduler.wake_after(
                (instance.next_execution - to_millis(utcnow())) / 1000, instance.id, QueueType.WORKFLOW
            )

    def run_limited(self, instance: WorkflowInstance) -> bool | None:
        """``run`` within the workflow's concurrency limit (see ``services.concurrency``): None if every
        slot of its key is taken, so it was not run and waits in line (no timer: it is queued again when
        a slot is given back, or by the poller)."""
        definition = self.runtime.registry.find(instance.workflow_definition_id, instance.version)
        if definition is None or instance.concurrency_key is None or definition.max_concurrency is None:
            return self.run(instance)
        slots = self.runtime.concurrency
        slot = slots.take(instance, definition)
        if slot is None:
            deadline = deadline_of(instance, definition)
            if deadline is not None and utcnow() >= deadline:
                return self.run(instance)  # its timeout ends it at once: no step runs, so it needs no slot
            return None
        try:
            return self.run(instance)
        finally:
            slots.give_back(slot, instance, definition)

    def _hand_back(self, workflow_id: str) -> None:
        """Queue an instance without a definition here again, for a host that has it (see
        ``missing_definitions``): by the timer thread, never by this worker."""
        delay = self.missing.hand_back_delay(workflow_id)
        if delay is not None:
            self.runtime.scheduler.wake_after(delay, workflow_id, QueueType.WORKFLOW)

    def run(self, instance: WorkflowInstance) -> bool:
        """Run passes while work is due; True if it stopped only because of ``max_passes``."""
        runtime = self.runtime
        definition = runtime.registry.find(instance.workflow_definition_id, instance.version)
        if definition is None:
            self.missing.noted(instance)
            return False
        runtime.rebuild_data(instance, definition)
        self._rechecks.discard(instance.id)
        if pending_control(instance) is not None and not self.apply_control(instance):
            return False
        rechecks = RunRechecks(instance, runtime.options.event_recheck_delay)
        for _ in range(runtime.options.max_passes):
            if runtime.stopping:
                break  # stored after its last pass: still due, it is queued again for whoever runs next
            if not due(instance, to_millis(utcnow())):
                return False
            stale = rechecks.stale()
            if stale and not self.recheck(instance, stale, rechecks.pulled):
                return False
            was_runnable = instance.status
            result = runtime.executor.execute(instance, definition)
            if instance.parent_workflow_id is not None and ends_child(instance, was_runnable):
                prepare_announcement(runtime, instance)  # before the end is stored, never after only
            if rechecks.before_store(instance, result):
                self._rechecks.add(instance.id)
            else:
                self._rechecks.discard(instance.id)
            if not self._store_pass(instance, definition, result):
                return False
            runtime.follow_up.after_pass(instance, result, was_runnable)
            if not self.pull_events(instance, result, rechecks.pulled):
                return False  # changed but not stored: whoever stored a newer state carries on from it
        return due(instance, to_millis(utcnow()))

    def _store_pass(self, instance: WorkflowInstance, definition: WorkflowDefinition, result: PassResult) -> bool:
        """``save`` a pass; one that left what no store takes is stored as its steps' failure instead (and an
        event delivered to it, on its own first, so the step fails as a delivered step). Whether the pass
        was stored."""
        carried = self._deliveries.get(id(instance)) if self._deliveries else None
        try:
            return self.save(instance, result)
        except SerializationError as exc:  # a step left what no store takes: it failed instead
            if carried is not None and not carried.stored:
                self._store_delivery_alone(instance.id, carried)
            fail_unstorable(self.runtime, instance.id, definition, result.ran, exc)
            return False

    def save(self, instance: WorkflowInstance, result: PassResult, applied: str | None = None) -> bool:
        """Persist the pass (compare-and-set on the revision: only the lock holder writes an instance, so
        a conflict means this host's lock lapsed and the pass is dropped). A status change requested
        meanwhile is applied to the pass and stored with it, in the same write (``control.fold``), and so
        is one requested while this host applies the first; ``applied``: the requests already folded in."""
        persistence = self.runtime.persistence
        delivery = self._deliveries.pop(id(instance), None) if self._deliveries else None
        if delivery is not None:
            delivery.stored = False  # until this write succeeds
            result = replace(result, ended_subscriptions=[*result.ended_subscriptions, delivery.subscription.id])
        while True:
            try:
                persist(self.runtime, instance, result, applied)
                break
            except ControlRequested as requested:
                more = control.requests_after(applied, requested.request)
                if more is None:  # the requests this host applied were cleared by another holder: it lapsed
                    log.warning("workflow.persist_conflict", workflow_id=instance.id, revision=instance.revision)
                    return False
                applied = requested.request
                before = instance.status
                control.fold_pending(instance, more, result)
                if ends_child(instance, before):  # a child terminated by the request: announced before stored
                    prepare_announcement(self.runtime, instance)
            except ConcurrencyError:
                log.warning("workflow.persist_conflict", workflow_id=instance.id, revision=instance.revision)
                return False
        if delivery is not None:
            delivery.tried(True)
        if applied is not None:
            mark_control(instance, None)
            self.runtime.control_signal.applied()
        if result.errors:
            errors = result.errors
            through_outage(self.runtime, "persist_errors", lambda: persistence.persist_errors(errors), instance.id)
        return True

    def apply_control(self, instance: WorkflowInstance) -> bool:
        """Apply the status change pending on a just-loaded instance before running it; False if it could
        not be stored (the lock lapsed)."""
        request = pending_control(instance)
        result = PassResult()
        before = instance.status
        control.fold_pending(instance, request, result)
        if ends_child(instance, before):
            prepare_announcement(self.runtime, instance)  # before the end is stored (see sub_workflow)
        if not self.save(instance, result, applied=request):
            return False
        self.runtime.follow_up.after_control(instance, result.events, queue=False)
        return True

    def pull_events(self, instance: WorkflowInstance, result: PassResult, pulled: set[str] | None = None) -> bool:
        """New subscriptions take events published before they were made (oldest first), and subscriptions
        whose events came while this worker held the lock (see ``InProgress.defer_event``) take those.
        False if events were delivered to ``instance`` but could not be persisted. ``pulled`` gets the ids
        of the subscriptions looked for.

        Its reads ride out a store outage as a persist does (see ``services.outage``): the pass that made
        the subscriptions is stored already, and an event the event consumer marked processed before they
        were stored (it found no one waiting) reaches them only here or, should this pull never be made,
        at their recheck (the pass was stored due again then: see ``engine.recheck``)."""
        deferred = self.runtime.in_progress.take_deferred_events(instance.id)
        if not result.subscriptions and not deferred:
            return True
        found = through_outage(
            self.runtime, "pull_events", partial(self._subscriptions_of, instance, deferred), instance.id
        )
        stored = self._pull(instance, [*result.subscriptions, *found], pulled)
        for event_id in deferred:  # the event consumer finishes them: other subscribers, marked processed
            self.runtime.queue.queue_work(event_id, QueueType.EVENT)
        return stored

    def recheck(self, instance: WorkflowInstance, stale: list[ExecutionPointer], pulled: set[str]) -> bool:
        """Pull for the open waits ``stale`` whose recheck time has come (see ``engine.recheck``), before
        the pass that finds them pulled and stores ``next_execution`` without the recheck. False if events
        were delivered but could not be persisted."""
        subscriptions = through_outage(
            self.runtime, "pull_events", partial(self._stored_subscriptions, instance, stale), instance.id
        )
        pulled.update(p.id for p in stale)  # one not stored any more has nothing to receive
        log.info("events.recheck", workflow_id=instance.id, waits=len(stale))
        return self._pull(instance, subscriptions, pulled)

    def _pull(
        self, instance: WorkflowInstance, subscriptions: list[EventSubscription], pulled: set[str] | None
    ) -> bool:
        """Deliver to each of ``subscriptions`` the oldest event it may receive, and store what was."""
        runtime = self.runtime
        persistence = runtime.persistence
        now = utcnow()
        delivered: list[str] = []
        for subscription in subscriptions:
            pointer = waiting_pointer(instance, subscription)
            if pointer is None or subscription.id in delivered:
                continue
            event = through_outage(
                runtime, "pull_events", partial(oldest_event_for, persistence, subscription, instance, now), instance.id
            )
            if event is not None:
                event = through_outage(
                    runtime, "pull_events", partial(settled_announcement, runtime, event), instance.id
                )
            if event is not None:
                deliver(instance, pointer, event, now)
                delivered.append(subscription.id)
            if pulled is not None:
                pulled.add(subscription.id)
        if not delivered:
            return True
        if instance.status is not WorkflowStatus.RUNNABLE:
            instance.next_execution = None
        return self.save(instance, PassResult(ended_subscriptions=delivered))

    def _subscriptions_of(self, instance: WorkflowInstance, event_ids: list[str]) -> list[EventSubscription]:
        """The subscriptions of ``instance`` to the events ``event_ids``."""
        found = []
        for event_id in event_ids:
            try:
                event = self.runtime.persistence.get_event(event_id)
            except KeyError:
                continue
            found += self._own_subscriptions(instance, event.event_name, event.event_key, event.event_time)
        return found

    def _stored_subscriptions(
        self, instance: WorkflowInstance, waits: list[ExecutionPointer]
    ) -> list[EventSubscription]:
        """The stored subscriptions of the waiting pointers ``waits`` (a pointer keeps its event's name and
        key, but not the as-of time its subscription was made with)."""
        ids = {p.id for p in waits}
        now = utcnow()
        found = []
        for name, key in dict.fromkeys((p.event_name or "", p.event_key or "") for p in waits):
            found += [s for s in self._own_subscriptions(instance, name, key, now) if s.id in ids]
        return found

    def _own_subscriptions(
        self, instance: WorkflowInstance, event_name: str, event_key: str, as_of: datetime
    ) -> list[EventSubscription]:
        """The stored subscriptions of ``instance`` to (``event_name``, ``event_key``) made up to ``as_of``."""
        subscriptions = self.runtime.persistence.get_subscriptions(event_name, event_key, as_of)
        return [s for s in subscriptions if s.workflow_id == instance.id]
