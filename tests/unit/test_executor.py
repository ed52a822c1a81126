"""WorkflowExecutor.execute on instances built by hand: one pass at a time, no host, no threads."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core.builder import WorkflowBuilder
from liteflow.core.definition import Outcome
from liteflow.core.engine.executor import WorkflowExecutor
from liteflow.core.engine.pointer_factory import genesis_pointer
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.lifecycle import StepCompleted, StepStarted, WorkflowCompleted, WorkflowError
from liteflow.core.models import to_millis

RETRY = timedelta(seconds=5)


def executor(**kwargs: Any) -> WorkflowExecutor:
    return WorkflowExecutor(EngineSettings(retry_interval=RETRY), asyncio.run, **kwargs)


def definition(build: Any, data_type: type | None = None) -> WorkflowDefinition:
    builder = WorkflowBuilder()
    build(builder)
    return builder.build("wf", 1, data_type=data_type)


def instance_of(defn: WorkflowDefinition, data: Any = None) -> WorkflowInstance:
    now = datetime.now(timezone.utc)
    inst = WorkflowInstance(workflow_definition_id=defn.id, version=defn.version, data=data, create_time=now)
    inst.execution_pointers.append(genesis_pointer(defn, now))
    inst.next_execution = to_millis(now)
    return inst


def pointers_for(inst: WorkflowInstance, step_id: int) -> list[ExecutionPointer]:
    return [p for p in inst.execution_pointers if p.step_id == step_id]


CALLS: list[Any] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


class A(StepBody):
    x: Any = None  # an input attribute (checked at registration)

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        CALLS.append(("A", context.item))
        return ExecutionResult.next()


class B(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        CALLS.append(("B", context.item))


# -- next pointers and completion ---------------------------------------------------------------------
def test_genesis_pointer() -> None:
    defn = definition(lambda b: b.start_with(A).then(B))
    inst = instance_of(defn)
    (p,) = inst.execution_pointers
    assert p.step_id == 0 and p.active and p.status is PointerStatus.PENDING
    assert p.predecessor_id is None and p.scope == [] and p.create_time is not None


def test_step_completes_and_creates_next_pointer() -> None:
    defn = definition(lambda b: b.start_with(A).then(B))
    inst = instance_of(defn)
    out = executor().execute(inst, defn)
    assert CALLS == [("A", None)]
    assert out.steps_run == 1 and out.errors == [] and out.subscriptions == []
    first, second = inst.execution_pointers
    assert first.status is PointerStatus.COMPLETE and not first.active
    assert first.start_time is not None and first.end_time is not None
    assert second.step_id == 1 and second.active and second.status is PointerStatus.PENDING
    assert second.predecessor_id == first.id
    assert inst.status is WorkflowStatus.RUNNABLE
    assert inst.next_execution is not None and inst.next_execution <= to_millis(datetime.now(timezone.utc))
    assert not any(isinstance(e, WorkflowCompleted) for e in out.events)


def test_workflow_completes_when_all_pointers_have_ended() -> None:
    defn = definition(lambda b: b.start_with(A).then(B))
    inst = instance_of(defn)
    ex = executor()
    ex.execute(inst, defn)
    out = ex.execute(inst, defn)
    assert CALLS == [("A", None), ("B", None)]
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.complete_time is not None
    assert inst.next_execution is None
    assert [type(e) for e in out.events] == [WorkflowCompleted]
    # a further pass does nothing
    out = ex.execute(inst, defn)
    assert out.steps_run == 0 and CALLS == [("A", None), ("B", None)]


def test_step_events_only_when_wanted() -> None:
    defn = definition(lambda b: b.start_with(A))
    inst = instance_of(defn)
    out = executor(wants_step_events=lambda: True).execute(inst, defn)
    kinds = [type(e) for e in out.events]
    assert kinds == [StepStarted, StepCompleted, WorkflowCompleted]
    started = out.events[0]
    assert isinstance(started, StepStarted)
    assert started.execution_pointer_id == inst.execution_pointers[0].id and started.step_id == 0
    assert started.workflow_instance_id == inst.id and started.workflow_definition_id == "wf"


def test_inputs_and_outputs() -> None:
    class Add(StepBody):
        def __init__(self) -> None:
            self.x = 0
            self.y = 0
            self.result = 0

        def run(self, context: StepExecutionContext) -> ExecutionResult:
            self.result = self.x + self.y
            return ExecutionResult.next()

    defn = definition(
        lambda b: (
            b.start_with(Add)
            .input("x", lambda data, context: data["x"])
            .input("y", lambda data, context: context.workflow.data["y"])
            .output("sum", lambda step: step.result)
            .output("twice", lambda step, data: step.result + data["sum"])
        )
    )
    inst = instance_of(defn, {"x": 1, "y": 2})
    executor().execute(inst, defn)
    assert inst.data == {"x": 1, "y": 2, "sum": 3, "twice": 6}


def test_async_step_runs_through_the_coroutine_runner() -> None:
    class Async(StepBody):
        async def run(self, context: StepExecutionContext) -> ExecutionResult:
            await asyncio.sleep(0)
            CALLS.append("async")
            return ExecutionResult.outcome("x")

    defn = definition(lambda b: b.start_with(Async))
    inst = instance_of(defn)
    executor().execute(inst, defn)
    assert CALLS == ["async"]
    assert inst.execution_pointers[0].outcome == "x"
    assert inst.status is WorkflowStatus.COMPLETE


# -- outcomes -----------------------------------------------------------------------------------------
class Decider(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.outcome(context.workflow.data)


def outcome_definition() -> WorkflowDefinition:
    def build(b: WorkflowBuilder) -> None:
        b.start_with(Decider)
        b.add_step(A)  # 1
        b.add_step(B)  # 2

    defn = definition(build)
    defn.steps[0].outcomes = [Outcome(1, "a"), Outcome(2, "b"), Outcome(2, "both"), Outcome(1, "both")]
    return defn


@pytest.mark.parametrize(("value", "next_steps"), [("a", [1]), ("b", [2]), ("both", [2, 1]), ("none", [])])
def test_outcome_matching(value: str, next_steps: list[int]) -> None:
    defn = outcome_definition()
    inst = instance_of(defn, value)
    executor().execute(inst, defn)
    first = inst.execution_pointers[0]
    assert first.outcome == value
    assert [p.step_id for p in inst.execution_pointers[1:]] == next_steps
    assert all(p.predecessor_id == first.id for p in inst.execution_pointers[1:])
    expected = WorkflowStatus.COMPLETE if not next_steps else WorkflowStatus.RUNNABLE
    assert inst.status is expected


def test_then_follows_any_outcome() -> None:
    defn = definition(lambda b: b.start_with(Decider).then(A))
    inst = instance_of(defn, "whatever")
    executor().execute(inst, defn)
    assert [p.step_id for p in inst.execution_pointers] == [0, 1]


# -- branches -----------------------------------------------------------------------------------------
class Brancher(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if context.persistence_data is None:
            return ExecutionResult.branch(["x", "y"], {"branched": True})
        CALLS.append(("parent-again", context.persistence_data))
        return ExecutionResult.next()


def test_foreach_children_have_scope_predecessor_and_item() -> None:
    defn = definition(
        lambda b: b.start_with(A).for_each(lambda data, context: ["x", "y", "z"]).do(lambda d: d.start_with(B).then(A))
    )
    inst = instance_of(defn)
    ex = executor()
    ex.execute(inst, defn)  # A; creates the for_each pointer
    ex.execute(inst, defn)  # for_each: branches
    parent = pointers_for(inst, 1)[0]
    children = [p for p in inst.execution_pointers if p.id in parent.children]
    assert [p.context_item for p in children] == ["x", "y", "z"]
    assert all(p.step_id == 2 for p in children)
    assert all(p.scope == [parent.id] and p.predecessor_id == parent.id for p in children)
    assert parent.active and parent.end_time is None
    assert parent.persistence_data  # remembers that its children run
    # the children run; the parent waits for them
    ex.execute(inst, defn)
    assert sorted(c for c in CALLS if c[0] == "B") == [("B", "x"), ("B", "y"), ("B", "z")]
    grandchildren = pointers_for(inst, 3)
    assert sorted(p.context_item for p in grandchildren) == ["x", "y", "z"]
    assert all(p.scope == [parent.id] for p in grandchildren)
    assert parent.end_time is None
    ex.execute(inst, defn)  # the A steps of each branch
    assert parent.end_time is None
    ex.execute(inst, defn)  # the parent sees its branches done
    assert parent.status is PointerStatus.COMPLETE
    assert inst.status is WorkflowStatus.COMPLETE


def test_branch_result_creates_one_child_per_value_and_child_step() -> None:
    def build(b: WorkflowBuilder) -> None:
        b.start_with(Brancher)
        b.add_step(A)  # 1
        b.add_step(B)  # 2

    defn = definition(build)
    defn.steps[0].children = [1, 2]
    inst = instance_of(defn)
    ex = executor()
    ex.execute(inst, defn)
    parent = inst.execution_pointers[0]
    children = inst.execution_pointers[1:]
    assert [(p.step_id, p.context_item) for p in children] == [(1, "x"), (2, "x"), (1, "y"), (2, "y")]
    assert parent.children == [p.id for p in children]
    assert parent.persistence_data == {"branched": True}
    assert parent.status is PointerStatus.RUNNING and parent.active
    ex.execute(inst, defn)  # children run; the parent is not re-entered while they are open
    assert ("parent-again", {"branched": True}) not in CALLS
    ex.execute(inst, defn)
    assert ("parent-again", {"branched": True}) in CALLS
    assert inst.status is WorkflowStatus.COMPLETE


def test_nested_scope() -> None:
    defn = definition(
        lambda b: (
            b.start_with(A)
            .if_(lambda d, c: True)
            .do(lambda x: x.start_with(A).if_(lambda d, c: True).do(lambda y: y.start_with(B)))
        )
    )
    inst = instance_of(defn)
    ex = executor()
    for _ in range(10):
        ex.execute(inst, defn)
    assert inst.status is WorkflowStatus.COMPLETE
    outer = pointers_for(inst, 1)[0]
    inner = [p for p in inst.execution_pointers if defn.steps[p.step_id].body_type.__name__ == "If"][1]
    innermost = next(p for p in inst.execution_pointers if defn.steps[p.step_id].body_type is B)
    assert inner.scope == [outer.id]
    assert innermost.scope == [inner.id, outer.id]


# -- sleep and events ---------------------------------------------------------------------------------
class Sleeper(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        CALLS.append(("sleeper", context.persistence_data))
        if context.persistence_data is None:
            return ExecutionResult.sleep(timedelta(seconds=10), "slept")
        return ExecutionResult.next()


def test_sleep_sets_sleep_until_and_next_execution() -> None:
    defn = definition(lambda b: b.start_with(Sleeper).then(A))
    inst = instance_of(defn)
    ex = executor()
    before = datetime.now(timezone.utc)
    ex.execute(inst, defn)
    pointer = inst.execution_pointers[0]
    assert pointer.status is PointerStatus.SLEEPING and pointer.active
    assert pointer.persistence_data == "slept"
    assert pointer.sleep_until is not None
    assert before + timedelta(seconds=10) <= pointer.sleep_until <= datetime.now(timezone.utc) + timedelta(seconds=10)
    assert inst.next_execution == to_millis(pointer.sleep_until)
    assert len(inst.execution_pointers) == 1
    # not due yet: nothing runs
    out = ex.execute(inst, defn)
    assert out.steps_run == 0 and CALLS == [("sleeper", None)]
    # due: it runs again with its persistence data
    pointer.sleep_until = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    ex.execute(inst, defn)
    assert CALLS == [("sleeper", None), ("sleeper", "slept")]
    assert pointer.status is PointerStatus.COMPLETE and pointer.sleep_until is None


def test_persist_keeps_the_pointer_runnable_now() -> None:
    class Reentrant(StepBody):
        def run(self, context: StepExecutionContext) -> ExecutionResult:
            CALLS.append(context.persistence_data)
            return ExecutionResult.persist((context.persistence_data or 0) + 1)

    defn = definition(lambda b: b.start_with(Reentrant))
    inst = instance_of(defn)
    ex = executor()
    ex.execute(inst, defn)
    ex.execute(inst, defn)
    assert CALLS == [None, 1]
    pointer = inst.execution_pointers[0]
    assert pointer.active and pointer.persistence_data == 2 and pointer.sleep_until is None
    assert inst.next_execution is not None and inst.status is WorkflowStatus.RUNNABLE


def test_wait_for_event_subscribes_and_deactivates_the_pointer() -> None:
    defn = definition(
        lambda b: b.start_with(A).wait_for("ev", lambda data, context: data).output("x", lambda step: step.event_data)
    )
    inst = instance_of(defn, "the-key")
    ex = executor()
    ex.execute(inst, defn)
    out = ex.execute(inst, defn)
    waiting = inst.execution_pointers[1]
    assert waiting.status is PointerStatus.WAITING_FOR_EVENT
    assert not waiting.active and waiting.end_time is None
    assert waiting.event_name == "ev" and waiting.event_key == "the-key" and not waiting.event_published
    (sub,) = out.subscriptions
    assert sub.workflow_id == inst.id and sub.execution_pointer_id == waiting.id and sub.step_id == 1
    assert sub.event_name == "ev" and sub.event_key == "the-key"
    assert sub.subscribe_as_of == waiting.create_time  # default as-of: when the pointer was created
    assert inst.status is WorkflowStatus.RUNNABLE
    assert inst.next_execution is None  # nothing to do until the event comes
    out = ex.execute(inst, defn)
    assert out.steps_run == 0 and out.subscriptions == []


def test_wait_for_explicit_effective_date() -> None:
    as_of = datetime(2020, 1, 2, 3, 4, 5)  # naive: taken as UTC
    defn = definition(lambda b: b.start_with(A).wait_for("ev", lambda d, c: 7, effective_date=lambda d, c: as_of))
    inst = instance_of(defn)
    ex = executor()
    ex.execute(inst, defn)
    out = ex.execute(inst, defn)
    (sub,) = out.subscriptions
    assert sub.event_key == "7"
    assert sub.subscribe_as_of == as_of.replace(tzinfo=timezone.utc)


def test_wait_for_event_result_from_a_custom_step() -> None:
    class Custom(StepBody):
        def run(self, context: StepExecutionContext) -> ExecutionResult:
            if context.execution_pointer.event_published:
                CALLS.append(context.execution_pointer.event_data)
                return ExecutionResult.next()
            return ExecutionResult.wait_for_event("custom", 5)

    defn = definition(lambda b: b.start_with(Custom))
    inst = instance_of(defn)
    ex = executor()
    out = ex.execute(inst, defn)
    assert out.subscriptions[0].event_key == "5"
    # what the event consumer does on delivery
    pointer = inst.execution_pointers[0]
    pointer.event_published, pointer.event_data, pointer.active = True, "payload", True
    ex.execute(inst, defn)
    assert CALLS == ["payload"]
    assert inst.status is WorkflowStatus.COMPLETE


# -- errors -------------------------------------------------------------------------------------------
class Boom(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        raise ValueError("kaput")


def test_error_sets_retry_count_and_sleep_until() -> None:
    defn = definition(lambda b: b.start_with(Boom).then(A))
    inst = instance_of(defn)
    ex = executor()
    before = datetime.now(timezone.utc)
    out = ex.execute(inst, defn)
    pointer = inst.execution_pointers[0]
    assert pointer.retry_count == 1
    assert pointer.status is PointerStatus.FAILED and pointer.active and pointer.end_time is None
    assert pointer.sleep_until is not None
    assert before + RETRY <= pointer.sleep_until <= datetime.now(timezone.utc) + RETRY
    assert inst.status is WorkflowStatus.RUNNABLE
    assert inst.next_execution == to_millis(pointer.sleep_until)
    (error,) = out.errors
    assert error.workflow_id == inst.id and error.execution_pointer_id == pointer.id
    assert "ValueError" in error.message and "kaput" in error.message
    assert any(isinstance(e, WorkflowError) and "kaput" in e.message for e in out.events)
    assert len(inst.execution_pointers) == 1
    # retried when due
    pointer.sleep_until = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    ex.execute(inst, defn)
    assert pointer.retry_count == 2


def test_step_retry_interval_and_backoff() -> None:
    defn = definition(lambda b: b.start_with(Boom).on_error(ErrorBehavior.RETRY, timedelta(seconds=2), backoff=3.0))
    inst = instance_of(defn)
    ex = executor()
    pointer = inst.execution_pointers[0]
    waits = []
    for _ in range(3):
        before = datetime.now(timezone.utc)
        pointer.sleep_until = None
        ex.execute(inst, defn)
        assert pointer.sleep_until is not None
        waits.append(round((pointer.sleep_until - before).total_seconds()))
    assert waits == [2, 6, 18]
    assert pointer.retry_count == 3


def test_max_retries_then_terminate() -> None:
    defn = definition(lambda b: b.start_with(Boom).on_error(ErrorBehavior.RETRY, timedelta(0), max_retries=2))
    inst = instance_of(defn)
    ex = executor()
    attempts = 0
    while inst.status is WorkflowStatus.RUNNABLE and attempts < 10:
        inst.execution_pointers[0].sleep_until = None
        ex.execute(inst, defn)
        attempts += 1
    assert attempts == 3  # the first failure plus two retries
    assert inst.status is WorkflowStatus.TERMINATED
    assert inst.execution_pointers[0].status is PointerStatus.FAILED


@pytest.mark.parametrize(
    ("behavior", "status"),
    [(ErrorBehavior.SUSPEND, WorkflowStatus.SUSPENDED), (ErrorBehavior.TERMINATE, WorkflowStatus.TERMINATED)],
)
def test_error_behaviors(behavior: ErrorBehavior, status: WorkflowStatus) -> None:
    defn = definition(lambda b: b.start_with(Boom).on_error(behavior).then(A))
    inst = instance_of(defn)
    out = executor().execute(inst, defn)
    assert inst.status is status
    assert inst.next_execution is None
    assert len(out.errors) == 1
    assert inst.execution_pointers[0].status is PointerStatus.FAILED
    assert CALLS == []


def test_error_in_input_mapping_is_a_step_error() -> None:
    defn = definition(lambda b: b.start_with(A).input("x", lambda data, context: data.missing))
    inst = instance_of(defn, {})
    out = executor().execute(inst, defn)
    assert len(out.errors) == 1 and "missing" in out.errors[0].message
    assert CALLS == []
    assert inst.execution_pointers[0].retry_count == 1


def test_error_in_output_mapping_is_a_step_error() -> None:
    defn = definition(lambda b: b.start_with(A).output("x", lambda step: step.nope))
    inst = instance_of(defn, {})
    out = executor().execute(inst, defn)
    assert len(out.errors) == 1 and "nope" in out.errors[0].message
    assert inst.execution_pointers[0].status is PointerStatus.FAILED


def test_one_failing_branch_does_not_stop_the_others() -> None:
    def maybe_fail(context: StepExecutionContext) -> None:
        if context.item == "bad":
            raise RuntimeError("bad item")
        CALLS.append(context.item)

    defn = definition(
        lambda b: b.start_with(A).for_each(lambda d, c: ["ok1", "bad", "ok2"]).do(lambda x: x.start_with(maybe_fail))
    )
    inst = instance_of(defn)
    ex = executor()
    for _ in range(3):
        ex.execute(inst, defn)
    assert ("A", None) in CALLS and "ok1" in CALLS and "ok2" in CALLS
    failed = [p for p in inst.execution_pointers if p.status is PointerStatus.FAILED]
    assert [p.context_item for p in failed] == ["bad"]
    assert inst.status is WorkflowStatus.RUNNABLE


# -- middleware ---------------------------------------------------------------------------------------
def test_step_middleware_wraps_in_order() -> None:
    def outer(context: StepExecutionContext, body: StepBody, nxt: Any) -> Any:
        CALLS.append("outer-in")
        result = nxt()
        CALLS.append("outer-out")
        return result

    def inner(context: StepExecutionContext, body: StepBody, nxt: Any) -> Any:
        CALLS.append(("inner", type(body).__name__))
        return nxt()

    defn = definition(lambda b: b.start_with(A))
    inst = instance_of(defn)
    executor(middleware=[outer, inner]).execute(inst, defn)
    assert CALLS == ["outer-in", ("inner", "A"), ("A", None), "outer-out"]
