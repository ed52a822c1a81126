"""stop() in the middle of work: an async step outliving stop_timeout is cancelled (never a worker blocked
for ever with its lock renewed), and a worker stops between two passes instead of running on for up to
max_passes. Either way nothing is lost: another host (or this one, started again) carries on."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from support import wait_until

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder, WorkflowStatus
from liteflow.core.services.configure import configure_workflow_host
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

STARTED: list[float] = []
FINISHED: list[float] = []


class SlowFirstTime(StepBody):
    """Waits 30 s the first time it runs (longer than any stop_timeout here), not afterwards."""

    async def run(self, context: StepExecutionContext) -> None:
        STARTED.append(time.monotonic())
        if len(STARTED) == 1:
            await asyncio.sleep(30)
        FINISHED.append(time.monotonic())


class AsyncWorkflow(Workflow):
    def id(self) -> str:
        return "AsyncStop"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(SlowFirstTime).then(lambda context: None)


class Shared:
    """Stores shared by several hosts in one process (as Redis would share them between processes)."""

    def __init__(self) -> None:
        self.persistence = MemoryPersistenceProvider()
        self.queue = MemoryQueueProvider()
        self.registry: dict[str, tuple[str, float]] = {}
        self.locks: list[MemoryLockProvider] = []

    def host(self, *workflows: Workflow, **options: Any) -> Any:
        lock = MemoryLockProvider(lease=1.0, registry=self.registry)
        self.locks.append(lock)
        host = configure_workflow_host(self.persistence, self.queue, lock, poll_interval=0.1, **options)
        for workflow in workflows:
            host.register_workflow(workflow)
        return host

    def close(self) -> None:
        for lock in self.locks:
            lock.close()


def test_stop_cancels_an_async_step_that_outlives_the_timeout_and_the_step_runs_again_elsewhere() -> None:
    STARTED.clear()
    FINISHED.clear()
    shared = Shared()
    first = shared.host(AsyncWorkflow(), stop_timeout=0.3)
    first.start()
    second = None
    try:
        wid = first.start_workflow("AsyncStop")
        wait_until(lambda: STARTED)
        began = time.monotonic()
        first.stop()
        assert time.monotonic() - began < 5
        probe = MemoryLockProvider(lease=1.0, registry=shared.registry)
        assert probe.acquire_lock(wid), "the stopped host still holds (and renews) the instance's lock"
        probe.release_lock(wid)
        probe.close()
        assert first.get_workflow_instance(wid).status is WorkflowStatus.RUNNABLE
        assert FINISHED == []
        second = shared.host(AsyncWorkflow())
        second.start()
        instance = second.wait_for_workflow(wid, timeout=10)
        assert instance.status is WorkflowStatus.COMPLETE
        assert len(STARTED) == 2 and len(FINISHED) == 1  # interrupted once, run again once
    finally:
        first.stop()
        if second is not None:
            second.stop()
        shared.close()


def test_a_host_whose_async_step_was_cancelled_runs_it_again_when_started_again() -> None:
    STARTED.clear()
    FINISHED.clear()
    shared = Shared()
    host = shared.host(AsyncWorkflow(), stop_timeout=0.3)
    host.start()
    try:
        wid = host.start_workflow("AsyncStop")
        wait_until(lambda: STARTED)
        host.stop()
        host.start()
        assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.COMPLETE
        assert len(FINISHED) == 1
    finally:
        host.stop()
        shared.close()


ROUNDS: list[int] = []
ROUND_STARTED = threading.Event()


class Round(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        data = context.workflow.data
        data["counter"] += 1
        ROUNDS.append(data["counter"])
        ROUND_STARTED.set()
        time.sleep(0.01)


class Loop(Workflow):
    def id(self) -> str:
        return "Loop"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).while_(lambda data, context: data["counter"] < 300).do(
            lambda block: block.start_with(Round)
        )


def test_stop_ends_a_worker_between_two_passes_and_another_host_carries_on_from_the_last() -> None:
    ROUNDS.clear()
    ROUND_STARTED.clear()
    shared = Shared()
    first = shared.host(Loop(), max_passes=100_000, stop_timeout=20)
    first.start()
    second = None
    try:
        wid = first.start_workflow("Loop", data={"counter": 0})
        assert ROUND_STARTED.wait(5)
        wait_until(lambda: len(ROUNDS) >= 10)
        began = time.monotonic()
        first.stop()
        took = time.monotonic() - began
        assert took < 1.0, f"stop() waited {took:.1f} s: the worker ran on through its passes"
        done = len(ROUNDS)
        assert done < 300
        second = shared.host(Loop())
        second.start()
        instance = second.wait_for_workflow(wid, timeout=30)
        assert instance.status is WorkflowStatus.COMPLETE
        assert list(range(1, 301)) == ROUNDS  # every round once: nothing lost, nothing run twice
    finally:
        first.stop()
        if second is not None:
            second.stop()
        shared.close()
