"""Taking events off the queue a burst at a time and reading them, with what waits for them, ahead.

A host's event threads take turns at the queue: one at a time (the reader) takes up to ``event_batch``
events in one dequeue and reads them together, with one read for the events, one for the subscriptions
waiting for them and one for the events those subscriptions may receive (providers with
:class:`~liteflow.core.interfaces.SupportsEventBatches`; others are read one by one). The reader keeps
the first and leaves the rest to the other event threads, which wait on a condition variable meanwhile
(none of them blocks on the queue), and whichever thread finds nothing left becomes the next reader. A
burst of events then costs a few round trips, not a few per event; a lone event costs what it did.

Events taken but not delivered when the host stops are queued again; those of a host that dies are
still unprocessed in the store, and the runnable poller queues them again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from liteflow.core.interfaces import BatchDequeue, QueueType, SupportsEventBatches
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
    persistence = runtime.persistence
    batches = persistence if isinstance(persistence, SupportsEventBatches) else None
    if batches is not None:
        found = batches.get_events_by_id(event_ids)
    else:
        found = [_event_or_none(runtime, event_id) for event_id in event_ids]
    now = utcnow()
    due: list[Event] = []
    for event in found:
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
    asked = [(event.event_name, event.event_key, event.event_time) for event in due]
    if batches is not None:
        waiting = batches.get_subscriptions_many(asked)
    else:
        waiting = [persistence.get_subscriptions(*query) for query in asked]
    since: dict[tuple[str, str], datetime] = {}  # (name, key) -> the oldest as-of time waiting for it
    for event, subscriptions in zip(due, waiting, strict=True):
        if subscriptions:
            name_key = (event.event_name, event.event_key)
            oldest = min(s.subscribe_as_of for s in subscriptions)
            since[name_key] = min(since.get(name_key, oldest), oldest)
    until = utcnow()
    pairs = list(since)
    queries = [(name, key, since[name, key], until) for name, key in pairs]
    if batches is not None:
        lists = batches.get_events_many(queries)
    else:
        lists = [persistence.get_events(*query) for query in queries]
    receivable = dict(zip(pairs, lists, strict=True))
    return [
        ReadEvent(event, subscriptions, receivable.get((event.event_name, event.event_key), []))
        for event, subscriptions in zip(due, waiting, strict=True)
    ]


def _event_or_none(runtime: Runtime, event_id: str) -> Event | None:
    try:
        return runtime.persistence.get_event(event_id)
    except KeyError:
        return None


class EventIntake:
    """The event threads' way to the queue: ``next`` gives a thread the next read event (see the module)."""

    def __init__(self, runtime: Runtime, most: int) -> None:
        self.runtime = runtime
        work = runtime.queue
        self._dequeue_many = work.dequeue_many if most > 1 and isinstance(work, BatchDequeue) else None
        self.most = most
        self._ready: deque[ReadEvent] = deque()
        self._changed = threading.Condition(threading.Lock())
        self._reading = False
        self._closed = False

    def next(self, timeout: float) -> ReadEvent | None:
        """A read event to deliver; None if none came within about ``timeout`` seconds."""
        with self._changed:
            while not self._ready and self._reading and not self._closed:
                if not self._changed.wait(timeout):
                    return None
            if self._ready:
                return self._ready.popleft()
            if self._closed:
                return None
            self._reading = True
        reads: list[ReadEvent] = []
        try:
            reads = self._take(timeout)
        finally:
            with self._changed:
                self._reading = False
                self._ready.extend(reads[1:])
                self._changed.notify_all()  # takers for the rest, and the next reader
        return reads[0] if reads else None

    def _take(self, timeout: float) -> list[ReadEvent]:
        if self._dequeue_many is not None:
            event_ids = self._dequeue_many(QueueType.EVENT, self.most, timeout)
        else:
            one = self.runtime.queue.dequeue_work(QueueType.EVENT, timeout)
            event_ids = [] if one is None else [one]
        if not event_ids:
            return []
        try:
            return read_events(self.runtime, event_ids)
        except BaseException:
            self._queue_again(event_ids)  # they stay unprocessed in the store: the poller finds them
            raise

    def close(self) -> None:
        """The host stops: ``next`` takes nothing more off the queue (the threads waiting in it wake)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def hand_back(self) -> None:
        """Queue again the events read but not taken (the host stopped)."""
        with self._changed:
            left = [read.event.id for read in self._ready]
            self._ready.clear()
        self._queue_again(left)

    def _queue_again(self, event_ids: list[str]) -> None:
        for event_id in event_ids:
            try:
                self.runtime.queue.queue_work(event_id, QueueType.EVENT)
            except Exception as exc:  # the poller queues it again
                log.warning("events.requeue_failed", event_id=event_id, error=f"{type(exc).__name__}: {exc}")
