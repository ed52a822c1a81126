"""The event intake (``services.event_intake``): a burst of events is taken off the queue and read in a
few batched reads, its events reach every waiting workflow, and what was taken but not delivered when the
host stops is queued again."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from event_waits import waits_for_event
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import Event, EventSubscription, utcnow
from liteflow.core.services.event_consumer import EventConsumer
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


GATE = threading.Event()


def _hold(context: Any) -> None:
    GATE.wait(10)


class HoldsItsSlot(Workflow):
    """One step that waits for ``GATE``: it keeps a workflow slot busy."""

    def id(self) -> str:
        return "HoldsItsSlot"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(_hold)


class SlowAfterItsEvent(Workflow):
    """Waits for ``go`` with its own key, then runs a step of half a second."""

    def id(self) -> str:
        return "SlowAfterItsEvent"

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("go", lambda data, context: data["key"], lambda data, context: context.workflow.create_time)
            .then(lambda context: time.sleep(0.5))
        )


def _hold_the_slot(host: Any) -> None:
    """Start ``HoldsItsSlot`` and wait until the event thread waits on the queue again since (so it decided
    with the slot busy: an event for nobody, published after, is processed)."""
    GATE.clear()
    holder = host.start_workflow("HoldsItsSlot")
    wait_until(lambda: holder in host.runtime.in_progress.ids())
    nobody = host.publish_event("nobody", "k")
    wait_until(lambda: host.persistence.get_event(nobody).is_processed)


def _burst(host: Any, count: int) -> list[str]:
    """Events for k0..k<count>, queued in one step (a taker wakes to find them all)."""
    events = [Event(event_name="go", event_key=f"k{n}", event_data=n, event_time=utcnow()) for n in range(count)]
    for event in events:
        host.persistence.create_event(event)
    host.queue.queue_work_many([e.id for e in events], QueueType.EVENT)
    return [e.id for e in events]


def test_a_burst_is_read_in_batches_and_reaches_every_waiting_workflow() -> None:
    """With every workflow slot busy, the event thread takes the burst in batches of ``event_batch``."""
    store = BatchReads()
    options = {"event_batch": 16, "event_workers": 1, "max_concurrent_workflows": 1}
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(), **options)
    host.register_workflow(WaitsForItsKey())
    host.register_workflow(HoldsItsSlot())
    host.start()
    try:
        ids = [host.start_workflow("WaitsForItsKey", None, {"key": f"k{n}", "received": None}) for n in range(20)]
        wait_until(lambda: all(waits_for_event(host, wid) for wid in ids))
        _hold_the_slot(host)
        store.batches.clear()
        store.single_reads = 0
        events = _burst(host, 20)
        wait_until(lambda: all(store.get_event(e).is_processed for e in events))
        GATE.set()
        done = [host.wait_for_workflow(wid, timeout=10) for wid in ids]
    finally:
        GATE.set()
        host.stop()
    assert [i.status for i in done] == [WorkflowStatus.COMPLETE] * 20
    assert [i.data["received"] for i in done] == list(range(20))
    by_id = [size for read, size in store.batches if read == "events_by_id"]
    assert by_id[0] == 16, store.batches  # the first take: as many as event_batch
    assert sum(by_id) >= 20 and len(store.batches) <= 3 * len(by_id) < 20  # three reads a take


def test_a_thread_alone_on_the_queue_takes_a_batch_and_one_beside_another_takes_one() -> None:
    host = configure_workflow_host(BatchReads(), MemoryQueueProvider(), MemoryLockProvider())
    events = [host.publish_event("go", f"k{n}", n) for n in range(5)]
    intake = EventIntake(host.runtime, most=3)
    assert [r.event.id for r in intake.take(1.0)] == events[:3]  # alone on the queue: a batch
    intake._waiting = 1  # another thread waits on the queue: it takes the next
    assert [r.event.id for r in intake.take(1.0)] == events[3:4]
    intake._waiting = 0
    assert [r.event.id for r in intake.take(1.0)] == events[4:]
    assert intake.take(0.05) == []
    plain = configure_workflow_host()  # the memory store has no batched reads: one at a time
    events = [plain.publish_event("go", f"k{n}", n) for n in range(2)]
    assert [r.event.id for r in EventIntake(plain.runtime, most=3).take(1.0)] == events[:1]


def test_a_burst_taken_while_every_slot_is_busy_is_handed_back_when_the_host_stops() -> None:
    """The only workflow slot is busy: the event thread takes the burst in one batch; the host stops
    during the first delivery: the other four go back to the queue, and the host started again delivers
    them all."""
    store = BatchReads()
    options = {"event_batch": 16, "event_workers": 1, "max_concurrent_workflows": 1}
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(), **options)
    host.register_workflow(WaitsForItsKey())
    host.register_workflow(HoldsItsSlot())
    delivered: list[str] = []
    deliver = EventConsumer.deliver

    def deliver_then_stop(consumer: EventConsumer, read: Any, may_run: bool = True) -> None:
        deliver(consumer, read, may_run)
        if read.event.event_name == "go":
            delivered.append(read.event.id)
            host.runtime.stop_event.set()  # what stop() does first

    EventConsumer.deliver = deliver_then_stop  # type: ignore[method-assign]
    try:
        host.start()
        ids = [host.start_workflow("WaitsForItsKey", None, {"key": f"k{n}", "received": None}) for n in range(5)]
        wait_until(lambda: all(waits_for_event(host, wid) for wid in ids))
        _hold_the_slot(host)
        store.batches.clear()
        _burst(host, 5)
        wait_until(lambda: delivered)
        GATE.set()
        host.stop()
    finally:
        EventConsumer.deliver = deliver  # type: ignore[method-assign]
        GATE.set()
    assert len(delivered) == 1  # one delivery, then the stop
    assert next(size for read, size in store.batches if read == "events_by_id") == 5  # one batch
    # the other four handed back (a thread still waiting on the queue may take them once more, before
    # it sees the stop and hands them back again)
    assert host.queue.queue_length(QueueType.EVENT) == 4
    host.start()
    try:
        done = [host.wait_for_workflow(wid, timeout=10) for wid in ids]
    finally:
        host.stop()
    assert [i.data["received"] for i in done] == list(range(5))


def test_no_event_of_a_burst_waits_behind_the_step_another_one_wakes() -> None:
    """Each woken workflow runs a step of half a second: every event is still delivered at once (the
    workflows a batch wakes are queued, not run one after the other on the thread that took it)."""
    store = BatchReads()
    options = {"event_batch": 16, "event_workers": 1, "max_concurrent_workflows": 2}
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(), **options)
    host.register_workflow(SlowAfterItsEvent())
    host.start()
    try:
        ids = [host.start_workflow("SlowAfterItsEvent", None, {"key": f"k{n}"}) for n in range(6)]
        wait_until(lambda: all(waits_for_event(host, wid) for wid in ids))
        began = time.monotonic()
        _burst(host, 6)

        def all_delivered() -> bool:
            pointers = [p for wid in ids for p in store.get_workflow_instance(wid).execution_pointers]
            return sum(1 for p in pointers if p.event_published) == 6

        wait_until(all_delivered, timeout=5)
        assert time.monotonic() - began < 0.45  # before any woken step (0.5 s) has ended
        done = [host.wait_for_workflow(wid, timeout=10) for wid in ids]
    finally:
        host.stop()
    assert [i.status for i in done] == [WorkflowStatus.COMPLETE] * 6


def test_a_failed_read_queues_the_taken_events_again() -> None:
    store = BatchReads()
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider())
    events = [host.publish_event("go", "k", n) for n in range(3)]
    store.fail_batches = True
    intake = EventIntake(host.runtime, most=16)
    with pytest.raises(ProviderError):
        intake.take(1.0)
    assert [host.queue.dequeue_work(QueueType.EVENT, 1.0) for _ in range(3)] == events
    store.fail_batches = False
    for event_id in events:
        host.queue.queue_work(event_id, QueueType.EVENT)
    assert [r.event.id for r in intake.take(1.0)] == events


def test_read_events_leaves_out_what_is_not_due() -> None:
    host = configure_workflow_host()
    processed = host.publish_event("go", "k", 1)
    host.persistence.mark_event_processed(processed)
    due = host.publish_event("go", "k", 2)
    reads = read_events(host.runtime, ["no-such-event", processed, due])
    assert [(r.event.id, r.subscriptions, [e.id for e in r.events]) for r in reads] == [(due, [], [])]
