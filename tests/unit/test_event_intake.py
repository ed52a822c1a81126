"""The event intake (``services.event_intake``): a burst of events is taken off the queue and read in a
few batched reads, its events reach every waiting workflow, and what was taken but not delivered when the
host stops is queued again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
from event_waits import waits_for_event
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import Event, EventSubscription
from liteflow.core.services.event_intake import EventIntake, read_events
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider


class BatchReads(MemoryPersistenceProvider):
    """The memory store with the batched event reads (``SupportsEventBatches``), counting every read."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[str, int]] = []  # (read, how many asked)
        self.single_reads = 0
        self.fail_batches = False

    def _batch(self, read: str, size: int) -> None:
        if self.fail_batches:
            raise ProviderError(f"{read} failed (simulated)")
        self.batches.append((read, size))

    def get_event(self, event_id: str) -> Event:
        self.single_reads += 1
        return super().get_event(event_id)

    def get_events_by_id(self, event_ids: Sequence[str]) -> list[Event | None]:
        self._batch("events_by_id", len(event_ids))
        found: list[Event | None] = []
        for event_id in event_ids:
            try:
                found.append(super().get_event(event_id))
            except KeyError:
                found.append(None)
        return found

    def get_subscriptions_many(self, queries: Sequence[tuple[str, str, datetime]]) -> list[list[EventSubscription]]:
        self._batch("subscriptions", len(queries))
        return [super(BatchReads, self).get_subscriptions(*query) for query in queries]

    def get_events_many(self, queries: Sequence[tuple[str, str, datetime, datetime]]) -> list[list[Event]]:
        self._batch("events", len(queries))
        return [super(BatchReads, self).get_events(*query) for query in queries]


class WaitsForItsKey(Workflow):
    """Waits for ``go`` with its own key (data ``key``), keeps the event's data."""

    def id(self) -> str:
        return "WaitsForItsKey"

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("go", lambda data, context: data["key"], lambda data, context: context.workflow.create_time)
            .output("received", lambda step: step.event_data)
        )


def test_a_burst_is_read_in_batches_and_reaches_every_waiting_workflow() -> None:
    store = BatchReads()
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(), event_batch=16)
    host.register_workflow(WaitsForItsKey())
    host.start()
    try:
        ids = [host.start_workflow("WaitsForItsKey", None, {"key": f"k{n}", "received": None}) for n in range(20)]
        wait_until(lambda: all(waits_for_event(host, wid) for wid in ids))
        store.batches.clear()
        host.stop()  # the burst is published while no worker takes events, then taken at once
        events = [host.publish_event("go", f"k{n}", n) for n in range(20)]
        host.start()
        done = [host.wait_for_workflow(wid, timeout=10) for wid in ids]
    finally:
        host.stop()
    assert store.single_reads == 0  # the host read every event in a batch
    assert [i.status for i in done] == [WorkflowStatus.COMPLETE] * 20
    assert [i.data["received"] for i in done] == list(range(20))
    assert all(store.get_event(e).is_processed for e in events)
    by_id = [size for read, size in store.batches if read == "events_by_id"]
    assert max(by_id) == 16  # the first take: as many as event_batch (the poller may queue some again)
    assert len(store.batches) <= 3 * len(by_id) < 20  # three reads a take, far fewer than the events


def test_events_taken_but_not_delivered_are_queued_again_when_the_host_stops() -> None:
    host = configure_workflow_host()
    queue = host.queue
    for n in range(5):
        queue.queue_work(host.publish_event("go", f"k{n}", n), QueueType.EVENT)
    ids = [queue.dequeue_work(QueueType.EVENT, 1.0) for _ in range(5)]
    for event_id in ids:
        queue.queue_work(event_id, QueueType.EVENT)
    intake = EventIntake(host.runtime, most=16)
    first = intake.next(1.0)
    assert first is not None and first.event.id == ids[0]
    intake.hand_back()
    assert [queue.dequeue_work(QueueType.EVENT, 1.0) for _ in range(4)] == ids[1:]
    intake.close()
    assert intake.next(0.1) is None  # closed: takes nothing more


def test_a_failed_read_queues_the_taken_events_again() -> None:
    store = BatchReads()
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider())
    events = [host.publish_event("go", "k", n) for n in range(3)]
    store.fail_batches = True
    intake = EventIntake(host.runtime, most=16)
    with pytest.raises(ProviderError):
        intake.next(1.0)
    assert [host.queue.dequeue_work(QueueType.EVENT, 1.0) for _ in range(3)] == events
    store.fail_batches = False
    for event_id in events:
        host.queue.queue_work(event_id, QueueType.EVENT)
    assert [r.event.id for r in iter(lambda: intake.next(0.1), None)] == events


def test_read_events_leaves_out_what_is_not_due() -> None:
    host = configure_workflow_host()
    processed = host.publish_event("go", "k", 1)
    host.persistence.mark_event_processed(processed)
    due = host.publish_event("go", "k", 2)
    reads = read_events(host.runtime, ["no-such-event", processed, due])
    assert [(r.event.id, r.subscriptions, [e.id for e in r.events]) for r in reads] == [(due, [], [])]
