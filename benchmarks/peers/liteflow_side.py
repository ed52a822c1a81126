"""The four workloads on LiteFlow: one host in this process on Redis (database 11), default options."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from benchmarks.peers import common
from liteflow.core import (
    ExecutionResult,
    PointerStatus,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    configure_workflow_host,
)

URL = "redis://127.0.0.1:6379/11"
_marks: dict[str, float] = {}
_marked = threading.Condition()


class Noop(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult | None:
        return None


class Mark(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult | None:
        with _marked:
            _marks[context.workflow.id] = time.perf_counter()
            _marked.notify_all()
        return None


class Chain(Workflow):
    def build(self, builder: WorkflowBuilder) -> Any:
        step = builder.start_with(Noop)
        for _ in range(common.CHAIN_STEPS - 1):
            step = step.then(Noop)


class Waiter(Workflow):
    def build(self, builder: WorkflowBuilder) -> Any:
        builder.start_with(Noop).wait_for("go", lambda data, context: data["key"]).then(Mark)


def _chains(host: Any, count: int) -> float:
    began = time.perf_counter()
    ids = [host.start_workflow("Chain", 1, {"n": i}) for i in range(count)]
    for wid in ids:
        host.wait_for_workflow(wid, timeout=common.DEADLINE)
    return time.perf_counter() - began


def park_waiters(host: Any) -> dict[str, str]:
    """Start the ``Waiter`` instances and wait until each waits for its event: key -> workflow id."""
    keys = [f"k{i}-{time.monotonic_ns()}" for i in range(common.WAITERS)]
    ids = {key: host.start_workflow("Waiter", 1, {"key": key}) for key in keys}

    def all_waiting() -> bool:
        return all(
            any(p.status == PointerStatus.WAITING_FOR_EVENT for p in host.get_workflow_instance(wid).execution_pointers)
            for wid in ids.values()
        )

    common.wait_until(all_waiting, "the waiters to park")
    return ids


def publish(host: Any, ids: dict[str, str], spacing: float, clock: Callable[[], float]) -> dict[str, float]:
    """Publish each waiter's event, ``spacing`` seconds apart: workflow id -> ``clock()`` at publication."""
    published: dict[str, float] = {}
    for key, workflow_id in ids.items():
        published[workflow_id] = clock()
        host.publish_event("go", key, None)
        if spacing:
            time.sleep(spacing)
    return published


def _events(host: Any, spacing: float) -> float:
    published = publish(host, park_waiters(host), spacing, time.perf_counter)
    with _marked:
        if not _marked.wait_for(lambda: all(wid in _marks for wid in published), timeout=common.DEADLINE):
            raise TimeoutError("events were not all handled")
    return common.p50([(_marks[wid] - at) * 1000 for wid, at in published.items()])


def main() -> None:
    redis.Redis.from_url(URL).flushdb()
    host = configure_workflow_host(persistence=URL)
    host.register_workflow(Chain())
    host.register_workflow(Waiter())
    host.start()
    try:
        results = common.measure(lambda n: _chains(host, n), lambda spacing: _events(host, spacing))
    finally:
        host.stop()
    common.emit("liteflow", results)


if __name__ == "__main__":
    main()
