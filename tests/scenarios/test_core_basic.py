"""End-to-end scenarios on the in-memory default: chains, data in/out, function and async steps,
re-entrant steps. Public API only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from support import LOG, WAIT, record, register_and_run

from liteflow.core import *


# -- basic chain --------------------------------------------------------------------------------------
class StepA(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record("A")
        return ExecutionResult.next()


class StepB(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        record("B")  # returning None means next()


class StepC(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record("C")
        return ExecutionResult.next()


class ChainWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(StepA).then(StepB).then(StepC)


def test_basic_chain_runs_each_step_once_in_order(host: WorkflowHost) -> None:
    started = time.monotonic()
    instance = register_and_run(host, ChainWorkflow())
    assert time.monotonic() - started < 2
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["A", "B", "C"]
    assert instance.workflow_definition_id == "ChainWorkflow"
    assert instance.version == 1
    assert instance.complete_time is not None and instance.complete_time >= instance.create_time
    assert [p.step_id for p in instance.execution_pointers] == [0, 1, 2]
    assert all(p.status is PointerStatus.COMPLETE and not p.active for p in instance.execution_pointers)
    first, second, third = instance.execution_pointers
    assert second.predecessor_id == first.id and third.predecessor_id == second.id
    # nothing runs again afterwards
    time.sleep(0.2)
    assert LOG == ["A", "B", "C"]


def test_reference_and_latest_version(host: WorkflowHost) -> None:
    class V1(Workflow):
        def id(self) -> str:
            return "Versioned"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(StepA)

    class V2(V1):
        def version(self) -> int:
            return 2

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(StepB)

    host.register_workflow(V2())
    host.register_workflow(V1())
    host.start()
    wid = host.start_workflow("Versioned", None, None, reference="order-42")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.version == 2
    assert instance.reference == "order-42"
    assert LOG == ["B"]
    wid1 = host.start_workflow("Versioned", 1)
    assert host.wait_for_workflow(wid1, timeout=WAIT).version == 1
    assert LOG == ["B", "A"]


def test_many_instances_all_complete(host: WorkflowHost) -> None:
    host.register_workflow(ChainWorkflow())
    host.start()
    ids = [host.start_workflow("ChainWorkflow", 1) for _ in range(20)]
    for wid in ids:
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert sorted(LOG) == sorted(["A", "B", "C"] * 20)


# -- data in / out ------------------------------------------------------------------------------------
class AddNumbers(StepBody):
    def __init__(self) -> None:
        self.input1 = 0
        self.input2 = 0
        self.output = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        self.output = self.input1 + self.input2
        return ExecutionResult.next()


class MyData:
    def __init__(self) -> None:
        self.value1 = 0
        self.value2 = 0
        self.value3 = 0
        self.total = 0
        self.history: list[int] = []


class DataWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(AddNumbers)
            .input("input1", lambda data, context: data.value1)
            .input("input2", lambda data, context: data.value2)
            .output("value3", lambda step: step.output)
            .then(AddNumbers)
            .input("input1", lambda data, context: data.value3)
            .input("input2", lambda data, context: 100)
            .output("total", lambda step, data: step.output + data.value1)
            .output(lambda step, data: data.history.append(step.output))
        )


def test_inputs_and_outputs_map_workflow_data(host: WorkflowHost) -> None:
    data = MyData()
    data.value1, data.value2 = 2, 3
    instance = register_and_run(host, DataWorkflow(), data)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.value3 == 5
    assert instance.data.total == 105 + 2  # fn(step, data)
    assert instance.data.history == [105]  # output callable with no attribute
    assert data.value3 == 0  # the caller's object is not the stored one


class DictDataWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(AddNumbers)
            .input("input1", lambda data, context: data["a"])
            .input("input2", lambda data, context: data["b"])
            .output("sum", lambda step: step.output)
            .then(lambda context: record(f"sum={context.workflow.data['sum']}"))
        )


def test_dict_data(host: WorkflowHost) -> None:
    instance = register_and_run(host, DictDataWorkflow(), {"a": 20, "b": 22})
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"a": 20, "b": 22, "sum": 42}
    assert LOG == ["sum=42"]


@dataclass
class Typed:
    count: int = 7
    seen: list[str] = field(default_factory=list)


class TypedWorkflow(Workflow):
    data_type = Typed

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: context.workflow.data.seen.append("ran"))


def test_start_with_none_data_uses_data_type(host: WorkflowHost) -> None:
    instance = register_and_run(host, TypedWorkflow(), None)
    assert isinstance(instance.data, Typed)
    assert instance.data == Typed(count=7, seen=["ran"])


def test_none_data_without_data_type_stays_none(host: WorkflowHost) -> None:
    instance = register_and_run(host, ChainWorkflow(), None)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data is None


# -- function, lambda and async steps -----------------------------------------------------------------
def plain_function_step(context: StepExecutionContext) -> ExecutionResult:
    record(f"fn:{type(context.workflow).__name__}")
    return ExecutionResult.next()


class FunctionWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(plain_function_step)
            .then(lambda context: record("lambda"))
            .then(StepA)
            .then(lambda context: ExecutionResult.next())
        )


def test_function_and_lambda_steps(host: WorkflowHost) -> None:
    instance = register_and_run(host, FunctionWorkflow())
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["fn:WorkflowInstance", "lambda", "A"]
    assert len(instance.execution_pointers) == 4


class AsyncStep(StepBody):
    def __init__(self) -> None:
        self.value = 0

    async def run(self, context: StepExecutionContext) -> ExecutionResult:
        await asyncio.sleep(0.01)
        record(f"async:{self.value}")
        return ExecutionResult.next()


class AsyncNone(StepBody):
    async def run(self, context: StepExecutionContext) -> None:
        await asyncio.sleep(0)
        record("async-none")


async def async_function_step(context: StepExecutionContext) -> None:
    await asyncio.sleep(0)
    record("async-fn")


class AsyncWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(AsyncStep)
            .input("value", lambda data, context: 3)
            .then(AsyncNone)
            .then(async_function_step)
            .then(StepC)
        )


def test_async_steps(host: WorkflowHost) -> None:
    instance = register_and_run(host, AsyncWorkflow())
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["async:3", "async-none", "async-fn", "C"]


# -- re-entrant steps ---------------------------------------------------------------------------------
SEEN_PERSISTENCE: list[Any] = []


class Counter(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        SEEN_PERSISTENCE.append(context.persistence_data)
        count = (context.persistence_data or 0) + 1
        if count < 3:
            return ExecutionResult.persist(count)
        return ExecutionResult.next()


class SleepyCounter(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        SEEN_PERSISTENCE.append(context.persistence_data)
        if context.persistence_data is None:
            return ExecutionResult.sleep(timedelta(milliseconds=100), {"slept": 1})
        return ExecutionResult.next()


class ReentrantWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Counter).then(SleepyCounter).then(StepC)


def test_reentrant_step_gets_its_persistence_data(host: WorkflowHost) -> None:
    SEEN_PERSISTENCE.clear()
    started = time.monotonic()
    instance = register_and_run(host, ReentrantWorkflow())
    elapsed = time.monotonic() - started
    assert instance.status is WorkflowStatus.COMPLETE
    assert SEEN_PERSISTENCE == [None, 1, 2, None, {"slept": 1}]
    assert 0.1 <= elapsed < 2
    assert LOG == ["C"]
    # one pointer per step: a re-entrant step keeps its pointer
    assert [p.step_id for p in instance.execution_pointers] == [0, 1, 2]


class PydanticData(BaseModel):
    numbers: list[int] = [1, 2, 3]
    total: int = 0


class PydanticWorkflow(Workflow):
    data_type = PydanticData

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(AddNumbers)
            .input("input1", lambda data, context: sum(data.numbers))
            .input("input2", lambda data, context: 4)
            .output("total", lambda step: step.output)
        )


def test_pydantic_model_data(host: WorkflowHost) -> None:
    instance = register_and_run(host, PydanticWorkflow(), None)
    assert instance.status is WorkflowStatus.COMPLETE
    assert isinstance(instance.data, PydanticData)
    assert instance.data.total == 10
