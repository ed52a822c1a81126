"""WorkflowBuilder: the structure the fluent verbs produce, and validation of what they are given."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core.builder.definitions import build_definition
from liteflow.core.definition import ANY_OUTCOME, FunctionStep
from liteflow.core.primitives.containers import Foreach, If, While
from liteflow.core.primitives.timers import Delay
from liteflow.core.primitives.wait_for import WaitFor


class A(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.next()


class B(StepBody):
    def __init__(self) -> None:
        self.value = 0
        self.other = 0
        self.constant = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.next()


def build(fn: Any, **kwargs: Any) -> WorkflowDefinition:
    builder = WorkflowBuilder()
    fn(builder)
    return builder.build("wf", 3, **kwargs)


def links(defn: WorkflowDefinition) -> dict[int, list[int]]:
    return {s.id: [o.next_step for o in s.outcomes] for s in defn.steps}


# -- structure ----------------------------------------------------------------------------------------
def test_chain() -> None:
    defn = build(lambda b: b.start_with(A).then(B).then(A))
    assert defn.id == "wf" and defn.version == 3
    assert [s.id for s in defn.steps] == [0, 1, 2]
    assert [s.body_type for s in defn.steps] == [A, B, A]
    assert links(defn) == {0: [1], 1: [2], 2: []}
    assert all(o.value is ANY_OUTCOME for s in defn.steps for o in s.outcomes)
    assert defn.step(1) is defn.steps[1]


def test_data_type_is_kept() -> None:
    class D:
        pass

    assert build(lambda b: b.start_with(A), data_type=D).data_type is D


def test_start_with_returns_a_step_builder_for_the_first_step() -> None:
    builder = WorkflowBuilder()
    first = builder.start_with(A)
    assert isinstance(first, StepBuilder)
    assert first.step.id == 0
    assert builder.roots == [0]
    second = first.then(B)
    assert second.step.id == 1 and second is not first


def test_name_input_output() -> None:
    defn = build(
        lambda b: (
            b.start_with(B)
            .name("first")
            .input("value", lambda data, context: data.x)
            .input("other", lambda data: data.y)  # one-argument functions are accepted too
            .input("constant", 5)
            .output("result", lambda step: step.value)
            .output("both", lambda step, data: step.value + data.x)
            .output(lambda step, data: None)
        )
    )
    step = defn.steps[0]
    assert step.name == "first" and step.display_name == "first"
    assert [m.attr for m in step.inputs] == ["value", "other", "constant"]
    assert [(m.attr, m.takes_data) for m in step.outputs] == [("result", False), ("both", True), (None, True)]

    class Data:
        x = 1
        y = 2

    body = B()
    for mapping in step.inputs:
        mapping.apply(body, Data(), None)  # type: ignore[arg-type]
    assert (body.value, body.other, body.constant) == (1, 2, 5)  # type: ignore[attr-defined]


def test_output_to_nested_attribute_and_dict() -> None:
    defn = build(lambda b: b.start_with(B).output("inner.value", lambda step: 9).output("d.key", lambda step: 8))

    class Inner:
        value = 0

    class Data:
        def __init__(self) -> None:
            self.inner = Inner()
            self.d: dict[str, int] = {}

    data = Data()
    body = B()
    for mapping in defn.steps[0].outputs:
        mapping.apply(body, data)
    assert data.inner.value == 9 and data.d == {"key": 8}


def test_function_steps() -> None:
    def my_step(context: StepExecutionContext) -> None:
        return None

    defn = build(lambda b: b.start_with(my_step).then(lambda context: None))
    assert defn.steps[0].name == "my_step"
    assert defn.steps[1].name is None
    body = defn.steps[0].new_body()
    assert isinstance(body, FunctionStep)
    assert isinstance(defn.steps[1].new_body(), StepBody)


def test_bodies_are_created_fresh() -> None:
    defn = build(lambda b: b.start_with(B))
    assert defn.steps[0].new_body() is not defn.steps[0].new_body()


def test_for_each_structure() -> None:
    defn = build(
        lambda b: (
            b.start_with(A)
            .for_each(lambda data, context: [1, 2], run_parallel=False)
            .do(lambda x: x.start_with(B).then(A))
            .then(B)
        )
    )
    assert [s.body_type for s in defn.steps] == [A, Foreach, B, A, B]
    container = defn.steps[1]
    assert container.children == [2]
    assert links(defn) == {0: [1], 1: [4], 2: [3], 3: [], 4: []}
    assert [m.attr for m in container.inputs] == ["collection", "run_parallel"]
    body = container.new_body()
    for mapping in container.inputs:
        mapping.apply(body, None, None)  # type: ignore[arg-type]
    assert body.collection == [1, 2] and body.run_parallel is False  # type: ignore[attr-defined]


def test_if_and_while_structure() -> None:
    defn = build(
        lambda b: (
            b.start_with(A)
            .if_(lambda data, context: True)
            .do(lambda x: x.start_with(B))
            .while_(lambda data, context: False)
            .do(lambda x: x.start_with(A).then(B))
            .then(A)
        )
    )
    kinds = [s.body_type for s in defn.steps]
    assert kinds == [A, If, B, While, A, B, A]
    assert defn.steps[1].children == [2]
    assert defn.steps[3].children == [4]
    assert links(defn) == {0: [1], 1: [3], 2: [], 3: [6], 4: [5], 5: [], 6: []}


def test_wait_for_and_delay_structure() -> None:
    defn = build(
        lambda b: (
            b.start_with(A)
            .wait_for("ev", lambda data, context: "k", effective_date=lambda d, c: None)
            .output("got", lambda step: step.event_data)
            .delay(lambda data, context: timedelta(seconds=1))
            .then(B)
        )
    )
    assert [s.body_type for s in defn.steps] == [A, WaitFor, Delay, B]
    wait = defn.steps[1]
    assert [m.attr for m in wait.inputs] == ["event_name", "event_key", "effective_date"]
    assert [m.attr for m in wait.outputs] == ["got"]
    assert [m.attr for m in defn.steps[2].inputs] == ["period"]


def test_on_error() -> None:
    defn = build(
        lambda b: (
            b.start_with(A)
            .on_error(ErrorBehavior.RETRY, 2, max_retries=3, backoff=2.0)
            .then(B)
            .on_error(ErrorBehavior.SUSPEND)
        )
    )
    first, second = defn.steps
    assert first.error_behavior is ErrorBehavior.RETRY
    assert first.retry_interval == timedelta(seconds=2)  # seconds accepted
    assert (first.max_retries, first.retry_backoff) == (3, 2.0)
    assert second.error_behavior is ErrorBehavior.SUSPEND and second.retry_interval is None


# -- validation ---------------------------------------------------------------------------------------
class NotAStep:
    pass


@pytest.mark.parametrize(
    ("fn", "pattern"),
    [
        (lambda b: None, "no steps"),
        (lambda b: b.start_with(NotAStep), "NotAStep.*StepBody"),
        (lambda b: b.start_with(A).then(NotAStep), "step 1.*NotAStep"),
        (lambda b: b.start_with(A()), "instance"),
        (lambda b: b.start_with(42), "42"),
        (lambda b: b.start_with(A).for_each(lambda d, c: []), "step 1.*Foreach.*do"),
        (lambda b: b.start_with(A).if_(lambda d, c: True), "If.*do"),
        (lambda b: b.start_with(A).while_(lambda d, c: True), "While.*do"),
        (lambda b: b.start_with(A).if_(lambda d, c: True).do(lambda x: None), "start_with"),
        (lambda b: b.start_with(A).if_(lambda d, c: True).do("not callable"), "function"),
        (lambda b: b.start_with(A).input(3, lambda d, c: 1), "attribute name"),
        (lambda b: b.start_with(A).input("x", lambda: 1), "input 'x'"),
        (lambda b: b.start_with(A).output("x", "not callable"), "output 'x'"),
        (lambda b: b.start_with(A).output(42), "output"),
        (lambda b: b.start_with(A).name(3), "name"),
        (lambda b: b.start_with(A).on_error("retry"), "ErrorBehavior"),
        (lambda b: b.start_with(A).on_error(ErrorBehavior.RETRY, max_retries=-1), "max_retries"),
        (lambda b: b.start_with(A).wait_for("", lambda d, c: "k"), "event name"),
    ],
)
def test_invalid_definitions(fn: Any, pattern: str) -> None:
    with pytest.raises(DefinitionError, match=pattern):
        build(fn)


class Good(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(A).then(B)


def test_build_definition_from_a_workflow() -> None:
    defn = build_definition(Good())
    assert defn.id == "Good" and defn.version == 1 and len(defn.steps) == 2
    assert build_definition(Good).id == "Good"  # a class is accepted too


@pytest.mark.parametrize(
    ("workflow", "pattern"),
    [
        (object(), "Workflow"),
        (type("BadId", (Good,), {"id": lambda self: ""})(), "BadId.*id"),
        (type("BadVersion", (Good,), {"version": lambda self: "1"})(), "BadVersion.*version"),
        (type("BadType", (Good,), {"data_type": 3})(), "BadType.*data_type"),
        (type("TwoStarts", (Good,), {"build": lambda self, b: (b.start_with(A), b.start_with(B))})(), "TwoStarts"),
        (type("Raises", (Good,), {"build": lambda self, b: 1 / 0})(), "Raises.*ZeroDivisionError"),
        (type("Nothing", (Good,), {"build": lambda self, b: None})(), "Nothing.*no steps"),
    ],
)
def test_build_definition_validation(workflow: Any, pattern: str) -> None:
    with pytest.raises(DefinitionError, match=pattern):
        build_definition(workflow)
