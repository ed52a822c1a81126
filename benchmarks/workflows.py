"""The workflows the benchmarks run. A second host process imports this module too, so both register
exactly the same definitions."""

from __future__ import annotations

import time
from typing import Any

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder

CHAIN = "BenchChain"
EVENT = "BenchEvent"
FOREACH_PARALLEL = "BenchForEachParallel"
FOREACH_SEQUENTIAL = "BenchForEachSequential"
LOOP = "BenchWhile"

#: Steps a BenchChain instance runs.
CHAIN_STEPS = 10
#: The event BenchEvent instances wait for (key: ``data["key"]``).
EVENT_NAME = "bench-go"

#: perf_counter() of every BenchWhile iteration run in this process (H reads and clears it).
TICKS: list[float] = []


class Noop(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        return None


class Tick(StepBody):
    """One while_ iteration: records when it ran, and counts."""

    def __init__(self) -> None:
        self.value = 0

    def run(self, context: StepExecutionContext) -> None:
        TICKS.append(time.perf_counter())
        self.value += 1


class LoopData:
    def __init__(self) -> None:
        self.i = 0
        self.n = 0


class BenchChain(Workflow):
    def id(self) -> str:
        return CHAIN

    def build(self, builder: WorkflowBuilder) -> None:
        step = builder.start_with(Noop)
        for _ in range(CHAIN_STEPS - 1):
            step = step.then(Noop)


class BenchEvent(Workflow):
    def id(self) -> str:
        return EVENT

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Noop)
            .wait_for(EVENT_NAME, lambda data, context: data["key"])
            .output("received", lambda step: step.event_data)
            .then(Noop)
        )


def _items(data: Any, context: Any) -> list[int]:
    return list(range(int(data["n"])))


class BenchForEachParallel(Workflow):
    def id(self) -> str:
        return FOREACH_PARALLEL

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Noop).for_each(_items, run_parallel=True).do(lambda b: b.start_with(Noop)).then(Noop)


class BenchForEachSequential(Workflow):
    def id(self) -> str:
        return FOREACH_SEQUENTIAL

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Noop).for_each(_items, run_parallel=False).do(lambda b: b.start_with(Noop)).then(Noop)


class BenchWhile(Workflow):
    data_type = LoopData

    def id(self) -> str:
        return LOOP

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Noop)
            .while_(lambda data, context: data.i < data.n)
            .do(
                lambda b: (
                    b.start_with(Tick).input("value", lambda data, context: data.i).output("i", lambda step: step.value)
                )
            )
            .then(Noop)
        )


WORKFLOWS = [BenchChain, BenchEvent, BenchForEachParallel, BenchForEachSequential, BenchWhile]


def register_all(host: Any) -> None:
    for workflow in WORKFLOWS:
        host.register_workflow(workflow())
