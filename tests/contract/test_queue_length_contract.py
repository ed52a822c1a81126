"""The optional QueueLengths ability (what ``liteflow stats`` shows), on every queue that has it."""

from __future__ import annotations

from typing import Any

import pytest

from liteflow.core.interfaces import QueueLengths, QueueType

W, E = QueueType.WORKFLOW, QueueType.EVENT


def test_queue_length_counts_what_waits_per_queue(queue: Any) -> None:
    if not isinstance(queue, QueueLengths):
        pytest.skip(f"{type(queue).__name__} does not tell its queue lengths (an optional ability)")
    assert queue.queue_length(W) == 0
    for item in ("a", "b", "c", "a"):
        queue.queue_work(item, W)
    queue.queue_work("e1", E)
    assert (queue.queue_length(W), queue.queue_length(E)) == (3, 1)
    assert queue.dequeue_work(W, 1.0) == "a"
    assert queue.queue_length(W) == 2
