"""The QueueProvider contract, run against every registered implementation (see conftest.py).

Time bounds are loose on purpose: they tell a blocking dequeue from a busy or broken one, not a fast
machine from a slow one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from liteflow.core.interfaces import BatchQueueProvider, QueueProvider, QueueType

W, E = QueueType.WORKFLOW, QueueType.EVENT


def drain(queue: Any, kind: QueueType) -> list[str]:
    items = []
    while (item := queue.dequeue_work(kind, 0.2)) is not None:
        items.append(item)
    return items


def test_implements_the_protocol(queue: Any) -> None:
    assert isinstance(queue, QueueProvider)


def test_fifo_order(queue: Any) -> None:
    for item in ("a", "b", "c"):
        queue.queue_work(item, W)
    assert drain(queue, W) == ["a", "b", "c"]


def test_an_id_already_queued_is_not_queued_twice(queue: Any) -> None:
    for item in ("a", "b", "a", "b", "a"):
        queue.queue_work(item, W)
    assert drain(queue, W) == ["a", "b"]


def test_a_dequeued_id_can_be_queued_again(queue: Any) -> None:
    queue.queue_work("a", W)
    assert queue.dequeue_work(W, 1.0) == "a"
    queue.queue_work("a", W)
    assert queue.dequeue_work(W, 1.0) == "a"


def test_dequeue_on_empty_returns_none_after_about_the_timeout(queue: Any) -> None:
    started = time.monotonic()
    assert queue.dequeue_work(W, 0.5) is None
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 3.0


def test_blocking_dequeue_wakes_when_another_thread_queues(queue: Any) -> None:
    got: list[Any] = []
    waited: list[float] = []

    def consume() -> None:
        started = time.monotonic()
        got.append(queue.dequeue_work(W, 10.0))
        waited.append(time.monotonic() - started)

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.3)
    queue.queue_work("wake", W)
    consumer.join(15)

    assert got == ["wake"]
    assert waited[0] < 5.0  # woke on the item, not at the 10 s timeout


def test_queue_types_are_separate(queue: Any) -> None:
    queue.queue_work("wf", W)
    queue.queue_work("ev", E)
    queue.queue_work("same-id", W)
    queue.queue_work("same-id", E)
    assert drain(queue, E) == ["ev", "same-id"]
    assert drain(queue, W) == ["wf", "same-id"]


def test_answers_the_start_up_check(queue: Any) -> None:
    from liteflow.core.interfaces import HealthCheck

    assert isinstance(queue, HealthCheck)  # host.start() pings it once
    queue.ping(5.0)
    assert queue.describe()


def test_queues_many_at_once_skipping_those_already_queued(queue: Any) -> None:
    # every built-in queue offers the batch ability the poller uses
    assert isinstance(queue, BatchQueueProvider)
    queue.queue_work("b", W)
    ids = [f"id-{i}" for i in range(2500)]  # more than one script call's worth on Redis
    assert queue.queue_work_many(["a", "b", *ids, "a"], W) == 1 + len(ids)
    assert queue.queue_work_many([], W) == 0
    assert queue.queue_work_many(["a", "b"], E) == 2
    assert drain(queue, W) == ["b", "a", *ids]
    assert drain(queue, E) == ["a", "b"]


def test_queue_work_many_wakes_blocked_dequeues(queue: Any) -> None:
    got: list[str | None] = []
    threads = [threading.Thread(target=lambda: got.append(queue.dequeue_work(W, 5.0))) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # both blocked
    started = time.monotonic()
    queue.queue_work_many(["x", "y"], W)
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(g for g in got if g is not None) == ["x", "y"]
    assert time.monotonic() - started < 3.0
