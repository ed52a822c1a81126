"""Handing a published event to a waiting execution pointer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from liteflow.core.engine.pointers import consumed_event_ids
from liteflow.core.interfaces import PersistenceProvider, SupportsEventBatches
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    to_millis,
)


def waiting_in_two_reads(
    reads: SupportsEventBatches, queries: Sequence[tuple[str, str, datetime, datetime]]
) -> list[tuple[list[EventSubscription], list[Event]]]:
    """``SupportsWaitingReads.get_waiting_many`` made of two batched reads: the subscriptions waiting for
    each (name, key, as_of, until), then the events each (name, key, until) with subscriptions may receive,
    since the oldest of their as-of times (one read for each)."""
    waiting = reads.get_subscriptions_many([(name, key, as_of) for name, key, as_of, _ in queries])
    since: dict[tuple[str, str, datetime], datetime] = {}  # (name, key, until) -> the oldest as-of waiting
    for (name, key, _, until), subscriptions in zip(queries, waiting, strict=True):
        if subscriptions:
            oldest = min(s.subscribe_as_of for s in subscriptions)
            since[name, key, until] = min(since.get((name, key, until), oldest), oldest)
    spans = list(since)
    lists = reads.get_events_many([(name, key, since[name, key, until], until) for name, key, until in spans])
    receivable = dict(zip(spans, lists, strict=True))
    return [
        (subscriptions, receivable.get((name, key, until), []))
        for (name, key, _, until), subscriptions in zip(queries, waiting, strict=True)
    ]


def waiting_pointer(instance: WorkflowInstance, subscription: EventSubscription) -> ExecutionPointer | None:
    """The pointer a subscription belongs to, if it still waits for an event."""
    pointer = instance.find_pointer(subscription.execution_pointer_id)
    if pointer is None or pointer.end_time is not None or pointer.event_published:
        return None
    return pointer


def oldest_event_for(
    persistence: PersistenceProvider, subscription: EventSubscription, instance: WorkflowInstance, now: datetime
) -> Event | None:
    """The oldest event the subscription may receive that this instance has not consumed yet."""
    events = persistence.get_events(subscription.event_name, subscription.event_key, subscription.subscribe_as_of, now)
    return oldest_event_among(events, subscription, instance)


def oldest_event_among(
    events: Sequence[Event], subscription: EventSubscription, instance: WorkflowInstance
) -> Event | None:
    """The oldest of ``events`` (those of the subscription's name and key, oldest first) the subscription
    may receive (published as of its time) that this instance has not consumed yet."""
    pointer = instance.find_pointer(subscription.execution_pointer_id)
    consumed = consumed_event_ids(instance, pointer.create_time if pointer is not None else None)
    as_of = subscription.subscribe_as_of
    for event in events:
        if event.event_time >= as_of and event.id not in consumed:
            return event
    return None


def deliver(instance: WorkflowInstance, pointer: ExecutionPointer, event: Event, now: datetime) -> None:
    """Give ``event`` to ``pointer`` and make the instance runnable now."""
    pointer.event_published = True
    pointer.event_data = event.event_data
    pointer.event_id = event.id
    pointer.event_name = event.event_name
    pointer.event_key = event.event_key
    pointer.active = True
    pointer.sleep_until = None
    pointer.status = PointerStatus.PENDING
    instance.next_execution = to_millis(now)
