"""Taking events off the queue a burst at a time and reading them, with what waits for them, ahead.

Each event thread waits on the queue for the next event. While another one waits there too, or while
a workflow slot is free, it takes one (a lone event is taken by one thread, as before; nobody else
wakes; the workflow it wakes may run on this thread at once). A thread that is the only one waiting
with every slot busy (a burst) takes up to ``event_batch`` events in one dequeue, and reads them
together: one read for the events, then one for the subscriptions waiting for them with the events
those may receive (two, subscriptions then events, where the store has no
:class:`~liteflow.core.interfaces.SupportsWaitingReads`). It then delivers them one after the other,
queueing the workflows they wake while the slots stay busy; once one is free, the rest go back to the
queue (one step) and the workflow the next event wakes may run on this thread: no event waits behind
a step. (Only with a persistence provider that has
:class:`~liteflow.core.interfaces.SupportsEventBatches`, a server's: for the memory store, one event at
a time is quicker.) A burst costs a few round trips per batch, not a few per event.

Events taken but not delivered when the host stops are queued again; those of a host that dies are
still unprocessed in the store, and the runnable poller queues them again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from liteflow.core.engine.events import waiting_in_two_reads
from liteflow.core.interfaces import (
    BatchDequeue,
    BatchQueueProvider,
    PersistenceProvider,
    QueueType,
)
from liteflow.core.log import logger
from liteflow.core.models import Event, EventSubscription, utcnow
from liteflow.core.primitives.sub_workflow import settled_announcement
from liteflow.core.services.runtime import Runtime

log = logger("event_intake")


@dataclass
class ReadEvent:
    """A due event taken off the queue, read with the subscriptions waiting for it (as of its time) and
    ``events``: those of its name and key the subscriptions may receive, oldest first, up to when they
    were read."""

    event: Event
    subscriptions: list[EventSubscription]
    events: list[Event]


def read_events(runtime: Runtime, event_ids: Sequence[str]) -> list[ReadEvent]:
    """The events of ``event_ids`` that are due now, each with what waits for it. An unknown or processed
    event is left out; one due later is queued again for its time; a child's announcement is left out
    until the child is stored as ended (see ``settled_announcement``)."""
    reads = runtime.event_batches or _OneByOne(runtime.persistence)
    now = utcnow()
    due: list[Event] = []
    for event in reads.get_events_by_id(event_ids):
        if event is None or event.is_processed:
            continue
        if event.event_time > now:
            runtime.scheduler.wake_after((event.event_time - now).total_seconds(), event.id, QueueType.EVENT)
            continue
        settled = settled_announcement(runtime, event)
        if settled is not None:  # else a child's end not stored yet: its host queues it once it is
            due.append(settled)
    if not due:
        return []
    until = utcnow()
    queries = [(e.event_name, e.event_key, e.event_time, until) for e in due]
    if runtime.waiting_reads is not None:
        waiting = runtime.waiting_reads.get_waiting_many(queries)
    else:
        waiting = waiting_in_two_reads(reads, queries)
    return [
        ReadEvent(event, subscriptions, events) for event, (subscriptions, events) in zip(due, waiting, strict=True)
    ]


class _OneByOne:
    """The batched event reads (``SupportsEventBatches``) made with a store's single reads."""

    def __init__(self, persistence: PersistenceProvider) -> None:
        self.persistence = persistence

    def get_events_by_id(self, event_ids: Sequence[str]) -> list[Event | None]:
        found: list[Event | None] = []
        for event_id in event_ids:
            try:
                found.append(self.persistence.get_event(event_id))
            except KeyError:
                found.append(None)
        return found

    def get_subscriptions_many(self, queries: Sequence[tuple[str, str, datetime]]) -> list[list[EventSubscription]]:
        return [self.persistence.get_subscriptions(*query) for query in queries]

    def get_events_many(self, queries: Sequence[tuple[str, str, datetime, datetime]]) -> list[list[Event]]:
        return [self.persistence.get_events(*query) for query in queries]


class EventIntake:
    """How the event threads take events: ``take`` gives a thread what it takes off the queue, read."""

    def __init__(self, runtime: Runtime, most: int) -> None:
        self.runtime = runtime
        work = runtime.queue
        # batches only where reads are round trips worth saving (in memory, one at a time is quicker)
        batched = most > 1 and runtime.event_batches is not None
        self._dequeue_many = work.dequeue_many if batched and isinstance(work, BatchDequeue) else None
        self.most = most
        #: event threads waiting on the queue now
        self._waiting = 0
        self._mutex = threading.Lock()

    def take(self, timeout: float, batch: bool = True) -> list[ReadEvent]:
        """The events a thread takes off the queue (waiting up to ``timeout`` seconds for one), read: up to
        ``most`` if ``batch`` and no other thread waits on the queue, else one (the other takes the next)."""
        with self._mutex:
            alone = self._waiting == 0
            self._waiting += 1
        try:
            if batch and alone and self._dequeue_many is not None:
                event_ids = self._dequeue_many(QueueType.EVENT, self.most, timeout)
            else:
                one = self.runtime.queue.dequeue_work(QueueType.EVENT, timeout)
                event_ids = [] if one is None else [one]
        finally:
            with self._mutex:
                self._waiting -= 1
        if not event_ids:
            return []
        try:
            return read_events(self.runtime, event_ids)
        except BaseException:
            self.queue_again(event_ids)  # they stay unprocessed in the store: the poller finds them too
            raise

    def queue_again(self, event_ids: Sequence[str]) -> None:
        """Queue again events taken but not delivered (the host stops, or a delivery before them failed)."""
        if not event_ids:
            return
        work = self.runtime.queue
        if isinstance(work, BatchQueueProvider):
            try:
                work.queue_work_many(event_ids, QueueType.EVENT)
                return
            except Exception as exc:  # one by one, then
                log.warning("events.requeue_failed", events=len(event_ids), error=f"{type(exc).__name__}: {exc}")
        for event_id in event_ids:
            try:
                self.runtime.queue.queue_work(event_id, QueueType.EVENT)
            except Exception as exc:  # the poller queues it again
                log.warning("events.requeue_failed", event_id=event_id, error=f"{type(exc).__name__}: {exc}")
