"""Event and workflow workers under load: no head-of-line blocking, no more than
``max_concurrent_workflows`` at once, no busy loop for a locked workflow or a missing definition, merged
timers, and a poller whose cost does not grow with what is already queued."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.interfaces import QueueType
from liteflow.core.services.poller import RunnablePoller
from liteflow.core.services.scheduler import WakeupScheduler
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

WAIT = 10.0


# -- event workers never run steps ------------------------------------------------------------------------
class Gate:
    """Steps that block until the test opens the gate, counting how many run at once."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.mutex = threading.Lock()
        self.running = 0
        self.most = 0
        self.entered = 0

    def step(self, context: Any) -> None:
        with self.mutex:
            self.running += 1
            self.entered += 1
            self.most = max(self.most, self.running)
        try:
            self.open.wait(WAIT)
        finally:
            with self.mutex:
                self.running -= 1


def _waits_then_blocks(gate: Gate) -> Workflow:
    class Slow(Workflow):
        def id(self) -> str:
            return "Slow"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda c: None).wait_for("slow", lambda d, c: d["k"]).then(gate.step)

    return Slow()


class Quick(Workflow):
    def id(self) -> str:
        return "Quick"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).wait_for("quick", lambda d, c: "k").then(lambda c: None)


def _waiting(host: Any, wid: str) -> bool:
    return any(p.event_name for p in host.get_workflow_instance(wid).execution_pointers if p.end_time is None)


def test_an_event_does_not_wait_behind_the_slow_step_another_event_woke() -> None:
    gate = Gate()
    host = configure_workflow_host(event_workers=1, max_concurrent_workflows=4)
    host.register_workflow(_waits_then_blocks(gate))
    host.register_workflow(Quick())
    with host:
        slow = host.start_workflow("Slow", None, {"k": "1"})
        quick = host.start_workflow("Quick")
        wait_until(lambda: _waiting(host, slow) and _waiting(host, quick), WAIT)
        host.publish_event("slow", "1")
        wait_until(lambda: gate.running == 1, WAIT)  # the slow step runs (and blocks)
        started = time.monotonic()
        host.publish_event("quick", "k")
        try:
            assert host.wait_for_workflow(quick, timeout=5).status is WorkflowStatus.COMPLETE
            assert time.monotonic() - started < 5
        finally:
            gate.open.set()
        assert host.wait_for_workflow(slow, timeout=WAIT).status is WorkflowStatus.COMPLETE


def test_a_host_never_runs_more_workflows_at_once_than_max_concurrent_workflows() -> None:
    gate = Gate()
    host = configure_workflow_host(event_workers=4, max_concurrent_workflows=2)
    host.register_workflow(_waits_then_blocks(gate))
    with host:
        ids = [host.start_workflow("Slow", None, {"k": str(i)}) for i in range(6)]
        wait_until(lambda: all(_waiting(host, wid) for wid in ids), WAIT)
        for i in range(6):
            host.publish_event("slow", str(i))
        wait_until(lambda: gate.running == 2, WAIT)
        time.sleep(0.5)  # room for more to start, if anything let them
        assert gate.most == 2
        gate.open.set()
        for wid in ids:
            assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert gate.most == 2
    assert gate.entered == 6


# -- an event for a locked workflow -----------------------------------------------------------------------
class Counting(MemoryPersistenceProvider):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def get_event(self, event_id: str) -> Any:
        self.calls["get_event"] += 1
        return super().get_event(event_id)


def _branch_and_wait(gate: Gate) -> Workflow:
    class Branches(Workflow):
        def id(self) -> str:
            return "Branches"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda c: None).parallel().do(
                # the wait of the other branch is stored by a pass before the one running the slow step
                lambda b: b.start_with(lambda c: None).then(lambda c: None).then(lambda c: None).then(gate.step)
            ).do(lambda b: b.wait_for("go", lambda d, c: "k")).join().then(lambda c: None)

    return Branches()


def test_an_event_for_a_workflow_this_host_is_running_is_taken_after_the_pass_not_retried_in_a_loop() -> None:
    gate = Gate()
    persistence = Counting()
    host = configure_workflow_host(persistence, poll_interval=30)  # no poller to help
    host.register_workflow(_branch_and_wait(gate))
    with host:
        wid = host.start_workflow("Branches")
        wait_until(lambda: gate.running == 1 and _waiting(host, wid), WAIT)
        host.publish_event("go", "k")
        time.sleep(1.0)  # the step still runs: the event must not be tried every few ms meanwhile
        assert persistence.calls["get_event"] <= 3
        started = time.monotonic()
        gate.open.set()
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert time.monotonic() - started < 3  # taken when the pass ended, not at the next poll
    assert persistence.calls["get_event"] <= 6


def test_an_event_for_a_workflow_locked_elsewhere_is_tried_again_less_and_less_often() -> None:
    persistence, queue, registry = Counting(), MemoryQueueProvider(), {}  # type: ignore[var-annotated]
    other_host = MemoryLockProvider(registry=registry)
    host = configure_workflow_host(
        persistence, queue, MemoryLockProvider(registry=registry), poll_interval=0.4, event_retry_delay=0.02
    )
    host.register_workflow(Quick())
    with host:
        wid = host.start_workflow("Quick")
        wait_until(lambda: _waiting(host, wid), WAIT)
        assert other_host.acquire_lock(wid)  # another host holds it (a long step, say)
        try:
            host.publish_event("quick", "k")
            time.sleep(2.0)
            # 20 ms doubling up to poll_interval: about 9 tries in 2 s (the poller adds about 5), not 100
            assert persistence.calls["get_event"] <= 20
        finally:
            other_host.release_lock(wid)
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    other_host.close()


# -- a host without the definition ------------------------------------------------------------------------
class Order(Workflow):
    def id(self) -> str:
        return "Order"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None)


class OrderV2(Order):
    def version(self) -> int:
        return 2


class MissingLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "definition_missing" in record.getMessage():
            self.count += 1


@pytest.fixture
def missing_lines() -> Iterator[MissingLines]:
    handler = MissingLines()
    logger = logging.getLogger("liteflow")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class CountingQueue(MemoryQueueProvider):
    def __init__(self) -> None:
        super().__init__()
        self.dequeued: Counter[str] = Counter()

    def dequeue_work(self, queue: QueueType, timeout: float) -> str | None:
        item = super().dequeue_work(queue, timeout)
        if item is not None:
            self.dequeued[item] += 1
        return item


def test_a_host_without_the_definition_leaves_the_instance_alone(missing_lines: MissingLines) -> None:
    persistence, queue, registry = MemoryPersistenceProvider(), CountingQueue(), {}  # type: ignore[var-annotated]
    old = configure_workflow_host(persistence, queue, MemoryLockProvider(registry=registry), poll_interval=0.5)
    old.register_workflow(Order())
    client = configure_workflow_host(persistence, queue, MemoryLockProvider(registry=registry))
    client.register_workflow(OrderV2())
    with old:
        wid = client.start_workflow("Order", 2)  # a rolling deploy: no host has version 2 yet
        before = persistence.get_workflow_instance(wid)
        time.sleep(1.6)
    # one line per poll_interval (at 0, 0.5, 1.0, 1.5 s), and a handful of hand-backs per poll_interval
    assert 1 <= missing_lines.count <= 5
    assert queue.dequeued[wid] <= 4 * 7
    after = persistence.get_workflow_instance(wid)
    assert after.model_dump() == before.model_dump()


def test_a_host_that_has_the_definition_takes_it_without_delay(missing_lines: MissingLines) -> None:
    persistence, queue, registry = MemoryPersistenceProvider(), MemoryQueueProvider(), {}  # type: ignore[var-annotated]
    old = configure_workflow_host(persistence, queue, MemoryLockProvider(registry=registry), poll_interval=30)
    old.register_workflow(Order())
    new = configure_workflow_host(persistence, queue, MemoryLockProvider(registry=registry), poll_interval=30)
    new.register_workflow(Order())
    new.register_workflow(OrderV2())
    with old, new:
        for _ in range(5):  # whichever worker of whichever host takes each first; none waits for a poll
            wid = new.start_workflow("Order", 2)
            assert new.wait_for_workflow(wid, timeout=5).status is WorkflowStatus.COMPLETE


# -- timers -----------------------------------------------------------------------------------------------
class RecordingQueue(MemoryQueueProvider):
    def __init__(self) -> None:
        super().__init__()
        self.queued: list[str] = []

    def queue_work(self, item_id: str, queue: QueueType) -> None:
        self.queued.append(item_id)
        super().queue_work(item_id, queue)


def test_timers_for_one_id_are_merged_and_the_earliest_wins() -> None:
    queue = RecordingQueue()
    scheduler = WakeupScheduler(queue)
    scheduler.start()
    try:
        for _ in range(500):
            scheduler.wake_after(1.5, "a", QueueType.WORKFLOW)
        scheduler.wake_after(2.0, "a", QueueType.WORKFLOW)
        scheduler.wake_after(0.05, "a", QueueType.WORKFLOW)  # earlier: moves the one timer forward
        scheduler.wake_after(0.05, "a", QueueType.EVENT)  # another queue: a timer of its own
        wait_until(lambda: len(queue.queued) >= 2, timeout=1.2)  # the earliest time won
        time.sleep(2.2)  # past every time asked for
        assert queue.queued == ["a", "a"]
        assert scheduler.pending() == 0
        scheduler.wake_after(5, "b", QueueType.WORKFLOW)
        scheduler.wake_after(5, "b", QueueType.WORKFLOW)
        assert scheduler.pending() == 1
    finally:
        scheduler.stop()


# -- the poller -------------------------------------------------------------------------------------------
class Single(Workflow):
    def id(self) -> str:
        return "Single"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None)


@pytest.mark.redis
def test_a_poll_over_a_backlog_of_queued_instances_takes_a_few_round_trips(redis_url: str, redis_cleanup: str) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    persistence = RedisPersistenceProvider(redis_url, redis_cleanup)
    queue = RedisQueueProvider(redis_url, redis_cleanup)
    client = configure_workflow_host(persistence, queue, RedisLockProvider(redis_url, redis_cleanup))
    client.register_workflow(Single())
    ids = [client.start_workflow("Single") for _ in range(3000)]  # queued, not yet run
    calls = Counter[str]()
    execute = queue._conn.execute

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[str(args[0])] += 1
        return execute(*args, **kwargs)

    queue._conn.execute = counted  # type: ignore[method-assign]
    poller = RunnablePoller(client.runtime, None)
    poller.poll_once()
    assert sum(calls.values()) <= 10  # one script call per thousand ids at most, not one per id
    assert queue.dequeue_work(QueueType.WORKFLOW, 0) == ids[0]  # nothing queued twice or reordered
    queue._conn.execute = execute  # type: ignore[method-assign]
    queue.close()
    persistence.close()


def test_one_poll_queues_a_bounded_number_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    from liteflow.core.services import poller as poller_module

    monkeypatch.setattr(poller_module, "MOST_PER_POLL", 100)
    queue = CountingQueue()
    client = configure_workflow_host(MemoryPersistenceProvider(), queue)
    client.register_workflow(Single())
    ids = [client.start_workflow("Single") for _ in range(250)]
    while queue.dequeue_work(QueueType.WORKFLOW, 0) is not None:  # lost from the queue
        pass
    RunnablePoller(client.runtime, None).poll_once()
    queued = []
    while (item := queue.dequeue_work(QueueType.WORKFLOW, 0)) is not None:
        queued.append(item)
    assert len(queued) == 100
    assert set(queued) <= set(ids)
