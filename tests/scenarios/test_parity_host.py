"""Workflow Core parity, the host: lifecycle events, step and workflow middleware, suspend/terminate
of a running step, sub-workflows, versioning and purging. End to end on the in-memory default,
public API only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support import MS, Data, define, rec, run, wait_until, waits_for

from liteflow.core import (
    ErrorBehavior,
    ExecutionResult,
    LifecycleEvent,
    StepCompleted,
    StepStarted,
    Workflow,
    WorkflowBuilder,
    WorkflowError,
    WorkflowHost,
    WorkflowNotFoundError,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowStatus,
    WorkflowSuspended,
    WorkflowTerminated,
    configure_workflow_host,
)

pytestmark = pytest.mark.host_options(retry_interval=20 * MS, started=True)


# -- lifecycle events -------------------------------------------------------------------------------------


def test_lifecycle_events_of_a_workflow_and_its_steps(host: WorkflowHost) -> None:
    log: list[str] = []
    events: list[LifecycleEvent] = []
    host.on_lifecycle_event(events.append)
    define(host, lambda b: b.start_with(rec(log, "A")).then(rec(log, "B")))
    wid = host.start_workflow("W", 1, None, reference="ref-1")
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "StepCompleted",
        "WorkflowCompleted",
    ]
    for event in events:
        assert event.workflow_instance_id == wid
        assert event.workflow_definition_id == "W"
        assert event.version == 1
        assert event.reference == "ref-1"
        assert isinstance(event.event_time, datetime) and event.event_time.tzinfo is not None
    steps = [e for e in events if isinstance(e, (StepStarted, StepCompleted))]
    pointer_ids = {p.id: p.step_id for p in inst.execution_pointers}
    assert [e.step_id for e in steps] == [0, 0, 1, 1]
    for e in steps:
        assert pointer_ids[e.execution_pointer_id] == e.step_id
    times = [e.event_time for e in events]
    assert times == sorted(times)


def test_lifecycle_error_suspend_resume_terminate_events(host: WorkflowHost) -> None:
    events: list[LifecycleEvent] = []
    host.on_lifecycle_event(events.append)

    def boom(context: Any) -> None:
        raise ValueError("boom")

    define(host, lambda b: b.start_with(boom).on_error(ErrorBehavior.SUSPEND))
    wid = host.start_workflow("W", None, None, reference="r")
    assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.SUSPENDED
    assert host.resume_workflow(wid)
    wait_until(lambda: sum(isinstance(e, WorkflowSuspended) for e in events) == 2)
    assert host.terminate_workflow(wid)
    assert host.get_workflow_instance(wid).status is WorkflowStatus.TERMINATED
    kinds = [type(e) for e in events if not isinstance(e, (StepStarted, StepCompleted))]
    assert kinds == [
        WorkflowStarted,
        WorkflowError,
        WorkflowSuspended,
        WorkflowResumed,
        WorkflowError,
        WorkflowSuspended,
        WorkflowTerminated,
    ]
    errors = [e for e in events if isinstance(e, WorkflowError)]
    assert all("boom" in e.message and e.step_id == 0 and e.execution_pointer_id for e in errors)
    assert all(e.workflow_instance_id == wid and e.reference == "r" for e in events)


def test_a_raising_lifecycle_callback_does_not_break_the_host(host: WorkflowHost) -> None:
    seen: list[str] = []

    def bad(event: LifecycleEvent) -> None:
        raise RuntimeError("listener broke")

    host.on_lifecycle_event(bad)
    host.on_lifecycle_event(lambda e: seen.append(type(e).__name__))
    log: list[str] = []
    define(host, lambda b: b.start_with(rec(log, "A")).then(rec(log, "B")))
    first = run(host)
    second = run(host)
    assert first.status is second.status is WorkflowStatus.COMPLETE
    assert log == ["A", "B", "A", "B"]
    assert seen.count("WorkflowCompleted") == 2


# -- middleware -------------------------------------------------------------------------------------------


def test_step_middleware_first_added_is_outermost_and_can_time_steps(host: WorkflowHost) -> None:
    trace: list[str] = []
    timings: list[tuple[int, float]] = []

    def outer(context: Any, body: Any, nxt: Callable[[], Any]) -> Any:
        trace.append(f"outer>{context.step.id}")
        started = time.perf_counter()
        result = nxt()
        timings.append((context.step.id, time.perf_counter() - started))
        trace.append(f"outer<{context.step.id}")
        return result

    def inner(context: Any, body: Any, nxt: Callable[[], Any]) -> Any:
        trace.append(f"inner>{context.step.id}")
        result = nxt()
        trace.append(f"inner<{context.step.id}")
        return result

    host.add_step_middleware(outer)
    host.add_step_middleware(inner)

    def step(name: str) -> Callable[[Any], None]:
        def fn(context: Any) -> None:
            trace.append(name)
            if name == "B":
                time.sleep(0.03)

        return fn

    define(host, lambda b: b.start_with(step("A")).then(step("B")))
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert trace == ["outer>0", "inner>0", "A", "inner<0", "outer<0", "outer>1", "inner>1", "B", "inner<1", "outer<1"]
    assert [s for s, _ in timings] == [0, 1]
    assert timings[1][1] >= 0.025


def test_step_middleware_can_replace_the_result(host: WorkflowHost) -> None:
    log: list[str] = []

    def choose(context: Any) -> ExecutionResult:
        log.append("choose")
        return ExecutionResult.outcome("a")

    def swap(context: Any, body: Any, nxt: Callable[[], Any]) -> Any:
        result = nxt()
        if context.step.id == 0:
            return ExecutionResult.outcome("b")
        return result

    host.add_step_middleware(swap)
    define(
        host,
        lambda b: (
            b.start_with(choose)
            .when("a")
            .do(lambda w: w.start_with(rec(log, "a")))
            .when("b")
            .do(lambda w: w.start_with(rec(log, "b")))
            .then(rec(log, "end"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["choose", "b", "end"]


def test_workflow_middleware_pre_post_execute(host: WorkflowHost) -> None:
    phases: list[tuple[str, str, WorkflowStatus]] = []
    log: list[str] = []

    def pre(instance: Any) -> None:
        phases.append(("pre", instance.id, instance.status))
        if instance.reference == "refuse":
            raise PermissionError("not allowed")
        instance.data.value = "set by pre"

    host.add_workflow_middleware("pre", pre)
    host.add_workflow_middleware("post", lambda i: phases.append(("post", i.id, i.status)))
    host.add_workflow_middleware("execute", lambda i: phases.append(("execute", i.id, i.status)))
    define(host, lambda b: b.start_with(rec(log, "A")).delay(lambda d, c: 10 * MS).then(rec(log, "B")))

    with pytest.raises(PermissionError):
        host.start_workflow("W", None, None, reference="refuse")
    assert log == [] and [p[0] for p in phases] == ["pre"]
    phases.clear()

    wid = host.start_workflow("W", None, None)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.data.value == "set by pre"
    names = [p[0] for p in phases]
    assert names[0] == "pre" and names[-1] == "post" and names.count("post") == 1
    assert names.count("execute") >= 2  # one per execution pass (the delay makes at least two)
    assert set(names[1:-1]) == {"execute"}
    assert phases[-1][2] is WorkflowStatus.COMPLETE and phases[-2][2] is WorkflowStatus.COMPLETE
    assert all(p[1] == wid for p in phases)


def test_failing_post_and_execute_middleware_do_not_break_the_workflow(host: WorkflowHost) -> None:
    def bad(instance: Any) -> None:
        raise RuntimeError("middleware broke")

    host.add_workflow_middleware("execute", bad)
    host.add_workflow_middleware("post", bad)
    log: list[str] = []
    define(host, lambda b: b.start_with(rec(log, "A")).then(rec(log, "B")))
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE and log == ["A", "B"]


# -- suspend / terminate while a step runs ------------------------------------------------------------------


def blocking_workflow(host: WorkflowHost, log: list[str]) -> tuple[threading.Event, threading.Event]:
    entered, release = threading.Event(), threading.Event()

    def block(context: Any) -> None:
        log.append("block")
        entered.set()
        assert release.wait(10)
        context.workflow.data.value = "kept"

    define(host, lambda b: b.start_with(block).then(rec(log, "after")))
    return entered, release


@pytest.mark.parametrize("action", ["suspend", "terminate"])
def test_suspend_or_terminate_while_a_step_runs_applies_when_it_returns(host: WorkflowHost, action: str) -> None:
    log: list[str] = []
    entered, release = blocking_workflow(host, log)
    wid = host.start_workflow("W", None, None)
    assert entered.wait(5)
    started = time.monotonic()
    assert getattr(host, f"{action}_workflow")(wid) is True
    assert time.monotonic() - started < 0.5  # at once, without waiting for the step
    release.set()
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is (WorkflowStatus.SUSPENDED if action == "suspend" else WorkflowStatus.TERMINATED)
    assert inst.data.value == "kept"  # the step's result was kept
    time.sleep(0.15)
    assert log == ["block"]
    if action == "suspend":
        assert host.resume_workflow(wid)
        inst = host.wait_for_workflow(wid, timeout=10)
        assert inst.status is WorkflowStatus.COMPLETE
        assert log == ["block", "after"]  # the blocking step did not run again
        assert inst.data.done == ["after"] and inst.data.value == "kept"
    else:
        assert host.get_workflow_instance(wid).status is WorkflowStatus.TERMINATED


def act_during_the_last_step(host: WorkflowHost, action: str) -> tuple[list[str], str, Any]:
    """Runs a workflow whose last step blocks, calls ``host.<action>_workflow`` while it runs, then lets it
    return; gives the names of the lifecycle events, the instance id and the instance once it has stopped."""
    events: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def block(context: Any) -> None:
        entered.set()
        assert release.wait(10)

    host.on_lifecycle_event(lambda e: events.append(type(e).__name__))
    define(host, lambda b: b.start_with(lambda c: None).then(block))
    wid = host.start_workflow("W", None, None)
    assert entered.wait(5)
    assert getattr(host, f"{action}_workflow")(wid)
    release.set()
    return events, wid, host.wait_for_workflow(wid, timeout=10)


def test_suspend_during_the_last_step_defers_completion_until_resumed(host: WorkflowHost) -> None:
    events, wid, inst = act_during_the_last_step(host, "suspend")
    assert inst.status is WorkflowStatus.SUSPENDED and inst.complete_time is None
    assert "WorkflowCompleted" not in events
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    wait_until(lambda: "WorkflowCompleted" in events)
    assert events.count("WorkflowCompleted") == 1
    assert events.index("WorkflowSuspended") < events.index("WorkflowResumed") < events.index("WorkflowCompleted")


def test_terminate_during_the_last_step_wins_over_completion(host: WorkflowHost) -> None:
    events, _, inst = act_during_the_last_step(host, "terminate")
    assert inst.status is WorkflowStatus.TERMINATED
    time.sleep(0.1)
    assert "WorkflowCompleted" not in events and events.count("WorkflowTerminated") == 1


def test_control_calls_on_finished_or_unknown_workflows(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, lambda b: b.start_with(rec(log, "A")))
    wid = host.start_workflow("W", None, None)
    assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.COMPLETE
    assert host.suspend_workflow(wid) is False
    assert host.resume_workflow(wid) is False
    assert host.terminate_workflow(wid) is False
    with pytest.raises(WorkflowNotFoundError):
        host.suspend_workflow("no-such-workflow")


# -- sub-workflows -----------------------------------------------------------------------------------------


def test_sub_workflow_runs_a_child_and_hands_back_its_final_data(host: WorkflowHost) -> None:
    log: list[str] = []

    def child_step(context: Any) -> None:
        log.append(f"child:{context.workflow.data.value}")
        context.workflow.data.value = context.workflow.data.value * 10

    define(
        host, lambda b: b.start_with(child_step).delay(lambda d, c: 20 * MS).then(rec(log, "child-end")), wid="Child"
    )

    def make_child_data(data: Data, context: Any) -> Data:
        child = Data()
        child.value = data.value + 1
        return child

    define(
        host,
        lambda b: (
            b.start_with(rec(log, "parent-start"))
            .sub_workflow("Child", None, make_child_data)
            .output("result", lambda step: step.result)
            .then(rec(log, "parent-end"))
        ),
        wid="Parent",
    )
    data = Data()
    data.value = 4
    wid = host.start_workflow("Parent", None, data)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["parent-start", "child:5", "child-end", "parent-end"]
    assert inst.data.result["value"] == 50  # the child's final data, stored as JSON on every provider
    assert inst.data.result["done"] == ["child-end"]


def test_sub_workflow_of_a_pinned_version(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, lambda b: b.start_with(rec(log, "child-v1")), wid="Child", version=1)
    define(host, lambda b: b.start_with(rec(log, "child-v2")), wid="Child", version=2)
    define(
        host,
        lambda b: b.start_with(rec(log, "parent")).sub_workflow("Child", 1).then(rec(log, "parent-end")),
        wid="Parent",
    )
    inst = run(host, "Parent")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["parent", "child-v1", "parent-end"]


def test_a_terminated_child_fails_the_parent_step_and_a_retry_starts_a_new_child(host: WorkflowHost) -> None:
    log: list[str] = []
    runs = {"n": 0}

    def child_step(context: Any) -> None:
        runs["n"] += 1
        log.append(f"child{runs['n']}")
        if runs["n"] == 1:
            raise RuntimeError("first child fails")
        context.workflow.data.value = "second child"

    define(host, lambda b: b.start_with(child_step).on_error(ErrorBehavior.TERMINATE), wid="Child")
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "parent"))
            .sub_workflow("Child")
            .output("result", lambda step: step.result)
            .on_error(ErrorBehavior.RETRY, 10 * MS)
            .then(rec(log, "parent-end"))
        ),
        wid="Parent",
    )
    wid = host.start_workflow("Parent", None, None)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["parent", "child1", "child2", "parent-end"]
    assert inst.data.result["value"] == "second child"
    assert any("terminated" in e.message for e in host.get_errors(wid))


def test_terminating_a_child_from_outside_fails_the_parent_step(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, lambda b: b.start_with(rec(log, "child")).wait_for("never", lambda d, c: "k"), wid="Child")
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "parent"))
            .sub_workflow("Child")
            .on_error(ErrorBehavior.TERMINATE)
            .then(rec(log, "never"))
        ),
        wid="Parent",
    )
    children: list[str] = []
    host.on_lifecycle_event(
        lambda e: (
            children.append(e.workflow_instance_id)
            if isinstance(e, WorkflowStarted) and e.workflow_definition_id == "Child"
            else None
        )
    )
    wid = host.start_workflow("Parent", None, None)
    wait_until(
        lambda: (
            bool(children)
            and any(p.event_name == "never" for p in host.get_workflow_instance(children[0]).execution_pointers)
        )
    )
    assert host.terminate_workflow(children[0])
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.TERMINATED
    assert log == ["parent", "child"]


# -- versioning -------------------------------------------------------------------------------------------


def test_instances_keep_their_version_and_none_starts_the_latest(host: WorkflowHost) -> None:
    log: list[str] = []
    define(
        host,
        lambda b: b.start_with(rec(log, "v1-a")).wait_for("go", lambda d, c: "k").then(rec(log, "v1-b")),
        version=1,
    )
    old = host.start_workflow("W", None, None)
    wait_until(lambda: waits_for(host, old, "go"))
    define(
        host,
        lambda b: b.start_with(rec(log, "v2-a")).wait_for("go", lambda d, c: "k").then(rec(log, "v2-b")),
        version=2,
    )
    new = host.start_workflow("W", None, None)
    pinned = host.start_workflow("W", 1, None)
    assert host.get_workflow_instance(new).version == 2
    assert host.get_workflow_instance(pinned).version == 1
    wait_until(lambda: all(waits_for(host, w, "go") for w in (new, pinned)))
    host.publish_event("go", "k")
    for wid in (old, new, pinned):
        assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.COMPLETE
    assert host.get_workflow_instance(old).data.done == ["v1-a", "v1-b"]
    assert host.get_workflow_instance(pinned).data.done == ["v1-a", "v1-b"]
    assert host.get_workflow_instance(new).data.done == ["v2-a", "v2-b"]


# -- purge ------------------------------------------------------------------------------------------------


def test_purge_workflows_by_status_and_age(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, lambda b: b.start_with(rec(log, "A")))
    define(host, lambda b: b.start_with(rec(log, "wait")).wait_for("never", lambda d, c: "k"), wid="Waiting")
    done = [host.start_workflow("W", None, None) for _ in range(3)]
    for wid in done:
        host.wait_for_workflow(wid, timeout=10)
    waiting = host.start_workflow("Waiting", None, None)
    wait_until(lambda: waits_for(host, waiting, "never"))
    before = datetime.now(timezone.utc) - timedelta(hours=1)
    assert host.purge_workflows(WorkflowStatus.COMPLETE, before) == 0
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert host.purge_workflows(WorkflowStatus.COMPLETE, later) == 3
    for wid in done:
        with pytest.raises(WorkflowNotFoundError):
            host.get_workflow_instance(wid)
    assert host.get_workflow_instance(waiting).status is WorkflowStatus.RUNNABLE
    assert host.purge_workflows(WorkflowStatus.COMPLETE, later) == 0


def test_a_repeated_sub_workflow_step_reuses_the_child_it_started() -> None:
    """A parent pass lost after the child started (crash, lapsed lock) runs the step again: same child."""
    from liteflow.core.primitives.sub_workflow import SubWorkflow
    from liteflow.core.step import StepExecutionContext as Context

    class Child(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None)

    class Parent(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None).sub_workflow("Child")

    host = configure_workflow_host()
    host.register_workflow(Child())
    definition = host.register_workflow(Parent())
    parent_id = host.start_workflow("Parent")
    parent = host.get_workflow_instance(parent_id)
    pointer = parent.execution_pointers[0]
    step = definition.steps[pointer.step_id]
    first = SubWorkflow()
    first.definition_id = "Child"
    again = SubWorkflow()
    again.definition_id = "Child"
    child_1 = first.run(Context(parent, step, pointer, None, host)).event_key
    child_2 = again.run(Context(parent, step, pointer, None, host)).event_key
    assert child_1 == child_2
    assert host.get_workflow_instance(child_1).parent_workflow_id == parent_id


@pytest.mark.host_options(retry_interval=20 * MS, started=True, max_passes=2)
def test_a_loop_requeued_for_fairness_again_and_again_runs_every_round_once(host: WorkflowHost) -> None:
    """With max_passes=2 the instance goes back to the queue every two passes; on Redis the host then
    reuses it from memory when nothing else stored it meanwhile, and loads it again when something did
    (here: a suspend and a resume in the middle of the loop)."""
    rounds: list[int] = []
    gate = threading.Event()

    def body(context: Any) -> None:
        data = context.workflow.data
        data.counter += 1
        rounds.append(data.counter)
        if data.counter == 20:
            gate.wait(5)

    define(
        host, lambda b: b.start_with(rec([], "begin")).while_(lambda d: d.counter < 40).do(lambda d: d.start_with(body))
    )
    wid = host.start_workflow("W", None, None)
    wait_until(lambda: len(rounds) >= 20)
    assert host.suspend_workflow(wid)
    gate.set()
    wait_until(lambda: host.get_workflow_instance(wid).status is WorkflowStatus.SUSPENDED)
    held = len(rounds)
    time.sleep(0.2)
    assert len(rounds) == held  # suspended: no round runs
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert rounds == list(range(1, 41))
    assert inst.data.counter == 40
