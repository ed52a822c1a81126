"""The recheck: a wait whose first look at earlier events (the pull right after its subscription was
stored) was never made is looked after once more, ``event_recheck_delay`` later (see ``engine.recheck``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from event_waits import WaitsForGo
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.errors import ProviderError
from liteflow.core.models import Event, EventSubscription, PointerStatus, WorkflowInstance, utcnow
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider


class EventReadsDown(MemoryPersistenceProvider):
    """A store whose reads of the events named in ``failing`` fail until ``heal()``, and that counts the
    writes of instances and the reads of events."""

    def __init__(self, *failing: str) -> None:
        super().__init__()
        self.failing = set(failing)
        self.refused = 0
        self.event_reads = 0
        self.writes = 0

    def heal(self) -> None:
        self.failing.clear()

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        self.event_reads += 1
        if event_name in self.failing:
            self.refused += 1
            raise ProviderError("redis get_events failed: Connection refused (simulated)")
        return super().get_events(event_name, event_key, since, until)

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        self.writes += 1
        super().persist_workflow(instance, subscriptions, ended_subscriptions, control_applied)


class WaitsForTwo(Workflow):
    """Two waits side by side: "b" published before anyone waits, "a" after."""

    def id(self) -> str:
        return "WaitsForTwo"

    def build(self, builder: WorkflowBuilder) -> None:
        since_start = lambda data, context: context.workflow.create_time  # noqa: E731
        (
            builder.start_with(lambda context: None)
            .parallel()
            .do(
                lambda p: (
                    p.start_with(lambda context: None)
                    .wait_for("a", lambda data, context: "k", since_start)
                    .output("a", lambda step: step.event_data)
                )
            )
            .do(
                lambda p: (
                    p.start_with(lambda context: None)
                    .wait_for("b", lambda data, context: "k", since_start)
                    .output("b", lambda step: step.event_data)
                )
            )
            .join()
        )


def host_on(store: EventReadsDown, **options: Any) -> Any:
    options = {"poll_interval": 0.05, "persist_retry_timeout": 0.2, "event_recheck_delay": 1.0, **options}
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(lease=1.0), **options)
    host.register_workflow(WaitsForGo())
    host.register_workflow(WaitsForTwo())
    return host


def waiting_for(store: EventReadsDown, wid: str, name: str) -> bool:
    pointers = store.get_workflow_instance(wid).execution_pointers
    return any(p.status is PointerStatus.WAITING_FOR_EVENT and p.event_name == name for p in pointers)


def test_an_event_processed_before_the_wait_reaches_it_though_the_pull_was_given_up() -> None:
    """The event consumer marked the event processed before the workflow subscribed (nobody waited yet);
    the pull after the subscription was stored fails past ``persist_retry_timeout`` and is given up. Once
    the store answers, the recheck delivers the event."""
    store = EventReadsDown("go")
    host = host_on(store)
    wid = host.start_workflow("WaitsForGo", None, {"received": None})  # queued; no worker runs it yet
    event_id = host.publish_event("go", "k", "payload")
    store.mark_event_processed(event_id)  # what the event consumer does when nobody waits for it
    host.start()
    try:
        wait_until(lambda: store.refused >= 2 and waiting_for(store, wid, "go"))
        wait_until(lambda: store.refused >= 2 and not host.runtime.in_progress.ids(), timeout=5)  # the pull given up
        waiting = store.get_workflow_instance(wid)
        assert waiting.status is WorkflowStatus.RUNNABLE
        assert waiting.next_execution is not None  # due again at its recheck
        store.heal()
        began = time.monotonic()
        instance = host.wait_for_workflow(wid, timeout=5)
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["received"] == "payload"
    assert time.monotonic() - began < 2.0  # within the recheck delay (1 s) and a poll


def test_a_wait_that_outlives_the_delay_costs_one_pull_and_one_write_then_nothing() -> None:
    store = EventReadsDown()
    host = host_on(store, event_recheck_delay=0.3)
    host.start()
    try:
        wid = host.start_workflow("WaitsForGo", None, {"received": None})
        wait_until(lambda: waiting_for(store, wid, "go"))
        subscribed = store.get_workflow_instance(wid)
        assert subscribed.status is WorkflowStatus.RUNNABLE  # what users see of a wait: unchanged
        assert subscribed.next_execution is not None  # the recheck, 0.3 s after the wait subscribed
        assert subscribed.next_execution - subscribed.execution_pointers[-1].start_time.timestamp() * 1000 <= 400
        writes, reads = store.writes, store.event_reads
        wait_until(lambda: store.get_workflow_instance(wid).next_execution is None)
        time.sleep(1.5)  # five delays and thirty polls: nothing more is looked at or written
        assert (store.writes - writes, store.event_reads - reads) == (1, 1)
        assert wid not in store.get_runnable_instances(utcnow())
        host.publish_event("go", "k", "late")
        instance = host.wait_for_workflow(wid, timeout=5)
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["received"] == "late"


def test_a_wait_the_event_ends_sooner_costs_no_recheck() -> None:
    store = EventReadsDown()
    host = host_on(store, event_recheck_delay=0.3)
    host.start()
    try:
        wid = host.start_workflow("WaitsForGo", None, {"received": None})
        wait_until(lambda: waiting_for(store, wid, "go"))
        reads = store.event_reads
        host.publish_event("go", "k", "soon")
        instance = host.wait_for_workflow(wid, timeout=5)
        writes = store.writes
        time.sleep(0.6)  # past the recheck time it was stored with
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE and instance.next_execution is None
    assert store.writes == writes
    assert store.event_reads - reads == 1  # the event consumer's delivery; no recheck


def test_a_pass_after_another_wait_received_its_event_keeps_the_unpulled_wait_due() -> None:
    """Waits "a" and "b" subscribe in one pass; b's pull is given up. "a" is then delivered and the pass
    after it runs: it must not store the instance as waiting with nothing due, or b's event, processed
    before anyone waited, would never reach it."""
    store = EventReadsDown("b")
    host = host_on(store, event_recheck_delay=2.0)
    wid = host.start_workflow("WaitsForTwo", None, {"a": None, "b": None})
    store.mark_event_processed(host.publish_event("b", "k", "early"))
    host.start()
    try:
        wait_until(lambda: store.refused >= 2 and not host.runtime.in_progress.ids() and waiting_for(store, wid, "a"))
        host.publish_event("a", "k", "later")
        wait_until(lambda: store.get_workflow_instance(wid).data["a"] == "later")
        after_a = store.get_workflow_instance(wid)
        assert after_a.status is WorkflowStatus.RUNNABLE and after_a.next_execution is not None
        store.heal()
        instance = host.wait_for_workflow(wid, timeout=5)
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"a": "later", "b": "early"}
