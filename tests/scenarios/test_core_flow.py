"""End-to-end flow control: for_each (parallel and sequential), if_, while_, delay."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from support import LOG, WAIT, record, register_and_run, wait_until

from liteflow.core import *


class Hello(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record("hello")
        return ExecutionResult.next()


class Goodbye(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record("goodbye")
        return ExecutionResult.next()


class DoStuff(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record(("stuff", context.execution_pointer.context_item))
        return ExecutionResult.next()


class AfterStuff(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record(("after", context.item))
        return ExecutionResult.next()


class Data:
    def __init__(self) -> None:
        self.items = ["abc", "def", "xyz"]
        self.value1 = 0
        self.flag = False
        self.counter = 0


# -- for_each -----------------------------------------------------------------------------------------
class ParallelForEach(Workflow):
    data_type = Data
    run_parallel = True

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Hello)
            .for_each(lambda data, context: data.items, run_parallel=self.run_parallel)
            .do(lambda x: x.start_with(DoStuff).then(AfterStuff))
            .then(Goodbye)
        )


class SequentialForEach(ParallelForEach):
    run_parallel = False


def test_for_each_parallel(host: WorkflowHost) -> None:
    instance = register_and_run(host, ParallelForEach())
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG[0] == "hello" and LOG[-1] == "goodbye"
    body = LOG[1:-1]
    assert sorted(v for k, v in body if k == "stuff") == ["abc", "def", "xyz"]
    assert sorted(v for k, v in body if k == "after") == ["abc", "def", "xyz"]  # item flows down the branch
    for item in ["abc", "def", "xyz"]:
        assert body.index(("stuff", item)) < body.index(("after", item))
    # the container's children carry the item and its scope
    container = next(p for p in instance.execution_pointers if p.step_id == 1)
    children = [p for p in instance.execution_pointers if p.id in container.children]
    assert sorted(p.context_item for p in children) == ["abc", "def", "xyz"]
    assert all(p.scope[0] == container.id and p.predecessor_id == container.id for p in children)
    assert all(p.status is PointerStatus.COMPLETE for p in instance.execution_pointers)
    # all branches started in the same pass: each DoStuff starts before any branch's AfterStuff
    assert [k for k, _ in body[:3]] == ["stuff"] * 3


def test_for_each_sequential_keeps_order(host: WorkflowHost) -> None:
    instance = register_and_run(host, SequentialForEach())
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == [
        "hello",
        ("stuff", "abc"),
        ("after", "abc"),
        ("stuff", "def"),
        ("after", "def"),
        ("stuff", "xyz"),
        ("after", "xyz"),
        "goodbye",
    ]
    stuff = sorted(
        (p for p in instance.execution_pointers if p.context_item is not None and p.step_id == 2),
        key=lambda p: p.start_time,
    )
    assert [p.context_item for p in stuff] == ["abc", "def", "xyz"]


def test_for_each_empty_collection_just_carries_on(host: WorkflowHost) -> None:
    data = Data()
    data.items = []
    instance = register_and_run(host, ParallelForEach(), data)
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"]


# -- if -----------------------------------------------------------------------------------------------
class IfWorkflow(Workflow):
    data_type = Data

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Hello)
            .if_(lambda data, context: data.value1 > 3)
            .do(lambda x: x.start_with(DoStuff).then(AfterStuff))
            .then(Goodbye)
        )


@pytest.mark.parametrize(("value1", "runs_branch"), [(5, True), (1, False)])
def test_if(host: WorkflowHost, value1: int, runs_branch: bool) -> None:
    data = Data()
    data.value1 = value1
    instance = register_and_run(host, IfWorkflow(), data)
    assert instance.status is WorkflowStatus.COMPLETE
    if runs_branch:
        assert LOG == ["hello", ("stuff", None), ("after", None), "goodbye"]
    else:
        assert LOG == ["hello", "goodbye"]


# -- while --------------------------------------------------------------------------------------------
class Increment(StepBody):
    def __init__(self) -> None:
        self.my_value = 0
        self.your_value = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record(("inc", self.my_value))
        self.your_value = self.my_value + 1
        return ExecutionResult.next()


class WhileWorkflow(Workflow):
    data_type = Data
    #: A pause at the end of each round (None: no pause).
    pause: timedelta | None = None

    def build(self, builder: WorkflowBuilder) -> None:
        def body(do: WorkflowBuilder) -> Any:
            step = (
                do.start_with(Increment)
                .input("my_value", lambda data, context: data.counter)
                .output("counter", lambda step: step.your_value)
            )
            return step if self.pause is None else step.delay(lambda data, context: self.pause)

        builder.start_with(Hello).while_(lambda data, context: data.counter < 3).do(body).then(Goodbye)


def test_while_loops_until_condition_fails(host: WorkflowHost) -> None:
    instance = register_and_run(host, WhileWorkflow())
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.counter == 3
    assert LOG == ["hello", ("inc", 0), ("inc", 1), ("inc", 2), "goodbye"]


def test_while_false_from_the_start(host: WorkflowHost) -> None:
    data = Data()
    data.counter = 10
    instance = register_and_run(host, WhileWorkflow(), data)
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"]


# -- delay --------------------------------------------------------------------------------------------
class DelayWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Hello).delay(lambda data, context: timedelta(milliseconds=300)).then(Goodbye)


def test_delay(host: WorkflowHost) -> None:
    host.register_workflow(DelayWorkflow())
    host.start()
    started = time.monotonic()
    wid = host.start_workflow("DelayWorkflow")
    sleeping = wait_until(  # observe the sleeping pointer
        lambda: [p for p in host.get_workflow_instance(wid).execution_pointers if p.status is PointerStatus.SLEEPING]
    )
    assert sleeping[0].sleep_until is not None and sleeping[0].step_id == 1
    assert LOG == ["hello"]
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    elapsed = time.monotonic() - started
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"]
    assert 0.3 <= elapsed < 2


# -- combinations -------------------------------------------------------------------------------------
class NestedForEach(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Hello)
            .for_each(lambda data, context: [1, 2])
            .do(
                lambda outer: (
                    outer.start_with(DoStuff)
                    .for_each(lambda data, context: [context.item * 10, context.item * 10 + 1])
                    .do(lambda inner: inner.start_with(DoStuff))
                )
            )
            .then(Goodbye)
        )


def test_nested_for_each_items(host: WorkflowHost) -> None:
    instance = register_and_run(host, NestedForEach())
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG[0] == "hello" and LOG[-1] == "goodbye"
    assert sorted(v for _, v in LOG[1:-1]) == [1, 2, 10, 11, 20, 21]
    # inner branches are scoped inside their outer branch
    by_id = {p.id: p for p in instance.execution_pointers}
    for p in instance.execution_pointers:
        if p.context_item in (10, 11, 20, 21):
            outer_container = by_id[p.scope[1]]
            assert outer_container.step_id == 1


class WhileWithDelay(WhileWorkflow):
    pause = timedelta(milliseconds=30)


def test_while_with_delay_inside(host: WorkflowHost) -> None:
    started = time.monotonic()
    instance = register_and_run(host, WhileWithDelay())
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", ("inc", 0), ("inc", 1), ("inc", 2), "goodbye"]
    assert 0.09 <= time.monotonic() - started < 2


class SequentialWaits(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Hello)
            .for_each(lambda data, context: ["x", "y"], run_parallel=False)
            .do(
                lambda b: (
                    b.start_with(DoStuff)
                    .wait_for("item-done", lambda data, context: context.item)
                    .output(lambda step, data: record(("event", step.event_data)))
                )
            )
            .then(Goodbye)
        )


def test_sequential_for_each_waiting_for_events_keyed_by_item(host: WorkflowHost) -> None:
    host.register_workflow(SequentialWaits())
    host.start()
    wid = host.start_workflow("SequentialWaits")

    def waiting_key() -> str | None:
        for p in host.get_workflow_instance(wid).execution_pointers:
            if p.status is PointerStatus.WAITING_FOR_EVENT:
                return p.event_key
        return None

    deadline = time.monotonic() + WAIT
    wait_until(lambda: waiting_key() == "x", timeout=deadline - time.monotonic())
    host.publish_event("item-done", "y", "y-early")  # y's branch has not started: not delivered to it
    host.publish_event("item-done", "x", "x-done")
    wait_until(lambda: waiting_key() == "y", timeout=deadline - time.monotonic())
    host.publish_event("item-done", "y", "y-done")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == [
        "hello",
        ("stuff", "x"),
        ("event", "x-done"),
        ("stuff", "y"),
        ("event", "y-done"),
        "goodbye",
    ]


class Failing(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        record("failing")
        raise RuntimeError("no")


class BranchErrorWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Hello)
            .if_(lambda data, context: True)
            .do(lambda b: b.start_with(Failing).on_error(ErrorBehavior.TERMINATE))
            .then(Goodbye)
        )


def test_error_inside_a_branch_terminates_the_workflow(host: WorkflowHost) -> None:
    instance = register_and_run(host, BranchErrorWorkflow())
    assert instance.status is WorkflowStatus.TERMINATED
    assert LOG == ["hello", "failing"]
