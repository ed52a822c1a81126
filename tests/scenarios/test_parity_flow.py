"""Workflow Core parity, control flow: parallel, outcome branches, decide, schedule, recur,
end_workflow and cancel_condition. End to end on the in-memory default, public API only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from support import MS, WAIT, Data, define, is_waiting, rec, run, wait_until, waits_for, with_value

from liteflow.core import (
    ExecutionResult,
    PointerStatus,
    WorkflowBuilder,
    WorkflowCompleted,
    WorkflowHost,
    WorkflowStatus,
)

pytestmark = pytest.mark.host_options(retry_interval=20 * MS, started=True)


# -- parallel ----------------------------------------------------------------------------------------------


def test_parallel_branches_all_run_and_join_once(host: WorkflowHost) -> None:
    log: list[str] = []

    def bump(context: Any) -> None:
        context.workflow.data.counter += 1

    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start"))
            .parallel()
            .do(lambda p: p.start_with(rec(log, "a1", bump)).then(rec(log, "a2", bump)))
            .do(lambda p: p.start_with(rec(log, "b1", bump)).then(rec(log, "b2", bump)).then(rec(log, "b3", bump)))
            .do(lambda p: p.start_with(rec(log, "c1", bump)))
            .join()
            .then(rec(log, "after"))
        ),
    )
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log[0] == "start" and log[-1] == "after"
    assert sorted(log[1:-1]) == ["a1", "a2", "b1", "b2", "b3", "c1"]
    assert log.index("a1") < log.index("a2")
    assert log.index("b1") < log.index("b2") < log.index("b3")
    assert log.count("after") == 1
    assert inst.data.counter == 6


def test_parallel_join_waits_for_the_slowest_branch(host: WorkflowHost) -> None:
    log: list[str] = []
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start"))
            .parallel()
            .do(lambda p: p.start_with(rec(log, "fast")))
            .do(lambda p: p.start_with(rec(log, "slow1")).delay(lambda d, c: 50 * MS).then(rec(log, "slow2")))
            .join()
            .then(rec(log, "after"))
        ),
    )
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log[-2:] == ["slow2", "after"]
    assert log.count("after") == 1


# -- outcomes ---------------------------------------------------------------------------------------------


def outcome_workflow(log: list[str], with_default: bool = False) -> Callable[[WorkflowBuilder], Any]:
    def build(b: WorkflowBuilder) -> None:
        switch = (
            b.start_with(rec(log, "choose", lambda c: ExecutionResult.outcome(c.workflow.data.value)))
            .when(1)
            .do(lambda w: w.start_with(rec(log, "one-a")).then(rec(log, "one-b")))
            .when(2)
            .do(lambda w: w.start_with(rec(log, "two")))
            .when(1, "also one")
            .do(lambda w: w.start_with(rec(log, "one-again")))
        )
        if with_default:
            switch = switch.otherwise().do(lambda w: w.start_with(rec(log, "default")))
        switch.then(rec(log, "X"))

    return build


@pytest.mark.parametrize(
    ("with_default", "value", "expected"),
    [
        pytest.param(False, 2, ["choose", "two", "X"], id="outcome_runs_only_matching_branches_then_continues_once"),
        pytest.param(False, 99, ["choose", "X"], id="outcome_with_no_match_and_no_default_just_continues"),
        pytest.param(True, "nope", ["choose", "default", "X"], id="otherwise_runs_when_nothing_matches"),
        pytest.param(True, 2, ["choose", "two", "X"], id="otherwise_does_not_run_when_a_branch_matches"),
    ],
)
def test_outcome_branches(host: WorkflowHost, with_default: bool, value: Any, expected: list[str]) -> None:
    log: list[str] = []
    define(host, outcome_workflow(log, with_default=with_default))
    inst = run(host, "W", with_value(value))
    assert log == expected
    assert inst.status is WorkflowStatus.COMPLETE


def test_outcome_every_matching_branch_finishes_before_then(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, outcome_workflow(log))
    inst = run(host, "W", with_value(1))
    assert inst.status is WorkflowStatus.COMPLETE
    assert log[0] == "choose" and log[-1] == "X"
    assert sorted(log[1:-1]) == ["one-a", "one-again", "one-b"]
    assert log.index("one-a") < log.index("one-b")


# -- decide -----------------------------------------------------------------------------------------------


def decide_workflow(log: list[str]) -> Callable[[WorkflowBuilder], Any]:
    def mark(name: str) -> Callable[[Any], None]:
        def fn(context: Any) -> None:
            context.workflow.data.items.append(name)

        return fn

    def build(b: WorkflowBuilder) -> None:
        (
            b.start_with(rec(log, "start"))
            .decide(lambda d, c: d.value)
            .branch("a", lambda x: x.start_with(rec(log, "a1", mark("a1"))).then(rec(log, "a2", mark("a2"))))
            .branch("b", lambda x: x.start_with(rec(log, "b1", mark("b1"))))
            .then(rec(log, "end", mark("end")))
        )

    return build


@pytest.mark.parametrize(("value", "expected"), [("a", ["a1", "a2"]), ("b", ["b1"]), ("zzz", [])])
def test_decide_runs_the_matching_branch_then_continues(host: WorkflowHost, value: str, expected: list[str]) -> None:
    log: list[str] = []
    define(host, decide_workflow(log))
    inst = run(host, "W", with_value(value))
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["start", *expected, "end"]
    assert inst.data.items == [*expected, "end"]


# -- schedule ---------------------------------------------------------------------------------------------


def test_schedule_runs_later_while_following_steps_do_not_wait(host: WorkflowHost) -> None:
    log: list[str] = []
    times: dict[str, float] = {}

    def stamp(name: str) -> Callable[[Any], None]:
        def fn(context: Any) -> None:
            times[name] = time.monotonic()

        return fn

    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start", stamp("start")))
            .schedule(lambda d, c: 300 * MS)
            .do(lambda s: s.start_with(rec(log, "scheduled1", stamp("scheduled1"))).then(rec(log, "scheduled2")))
            .then(rec(log, "after", stamp("after")))
            .then(rec(log, "after2"))
        ),
    )
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["start", "after", "after2", "scheduled1", "scheduled2"]
    assert times["after"] - times["start"] < 0.25  # the steps after it did not wait
    assert times["scheduled1"] - times["start"] >= 0.28  # the branch ran after the interval


def test_schedule_interval_reads_the_data(host: WorkflowHost) -> None:
    log: list[str] = []
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start"))
            .schedule(lambda d, c: timedelta(milliseconds=d.counter))
            .do(lambda s: s.start_with(rec(log, "scheduled")))
            .then(rec(log, "after"))
        ),
    )
    data = Data()
    data.counter = 10
    inst = run(host, "W", data)
    assert inst.status is WorkflowStatus.COMPLETE
    assert sorted(log) == ["after", "scheduled", "start"]


# -- recur ------------------------------------------------------------------------------------------------


def test_recur_runs_its_branch_until_the_condition_holds(host: WorkflowHost) -> None:
    log: list[str] = []

    def tick(context: Any) -> None:
        context.workflow.data.counter += 1

    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start"))
            .recur(lambda d, c: 20 * MS, lambda d, c: d.counter >= 3)
            .do(lambda r: r.start_with(rec(log, "tick", tick)))
            .then(rec(log, "after"))
        ),
    )
    started = time.monotonic()
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.data.counter == 3
    assert log.count("tick") == 3
    assert log.count("after") == 1 and log[0] == "start"
    # the step after recur did not wait for the rounds
    assert log.index("after") < len(log) - 1
    assert time.monotonic() - started >= 0.04  # three rounds, 20 ms apart


def test_recur_stops_at_once_when_the_condition_already_holds(host: WorkflowHost) -> None:
    log: list[str] = []
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start"))
            .recur(lambda d, c: 10 * MS, lambda d, c: True)
            .do(lambda r: r.start_with(rec(log, "tick")))
            .then(rec(log, "after"))
        ),
    )
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["start", "after"]


# -- end_workflow -----------------------------------------------------------------------------------------


def test_end_workflow_completes_and_later_steps_never_run(host: WorkflowHost) -> None:
    log: list[str] = []
    events: list[Any] = []
    host.on_lifecycle_event(events.append)
    define(
        host,
        lambda b: b.start_with(rec(log, "A")).end_workflow().then(rec(log, "never")).then(rec(log, "never2")),
    )
    inst = run(host, "W")
    time.sleep(0.1)  # nothing runs later either
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.complete_time is not None
    assert log == ["A"]
    completed = [e for e in events if isinstance(e, WorkflowCompleted)]
    assert len(completed) == 1 and completed[0].workflow_instance_id == inst.id
    assert host.get_workflow_instance(inst.id).status is WorkflowStatus.COMPLETE


def test_end_workflow_inside_a_branch_ends_the_whole_workflow(host: WorkflowHost) -> None:
    log: list[str] = []
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "A"))
            .if_(lambda d, c: True)
            .do(lambda x: x.start_with(rec(log, "in-if")).end_workflow().then(rec(log, "never-in-if")))
            .then(rec(log, "never-after-if"))
        ),
    )
    inst = run(host, "W")
    time.sleep(0.1)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["A", "in-if"]


# -- cancel_condition -------------------------------------------------------------------------------------


def cancel_workflow(log: list[str], proceed: bool) -> Callable[[WorkflowBuilder], Any]:
    def set_flag(context: Any) -> None:
        context.workflow.data.flag = True

    return lambda b: (
        b.start_with(rec(log, "start"))
        .parallel()
        .do(
            lambda p: (
                p.start_with(rec(log, "before-wait"))
                .wait_for("approval", lambda d, c: "k")
                .cancel_condition(lambda d, c: d.flag, proceed_after_cancel=proceed)
                .then(rec(log, "after-wait"))
            )
        )
        .do(lambda p: p.start_with(rec(log, "other")).delay(lambda d, c: 50 * MS).then(rec(log, "set-flag", set_flag)))
        .join()
        .then(rec(log, "end"))
    )


def test_cancel_condition_proceed_after_cancel_carries_on(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, cancel_workflow(log, proceed=True))
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log.index("set-flag") < log.index("after-wait") < log.index("end")
    assert log.count("after-wait") == 1 and log[-1] == "end"
    waits = [p for p in inst.execution_pointers if p.event_name == "approval"]
    assert len(waits) == 1 and waits[0].status is PointerStatus.CANCELLED and not waits[0].active
    # the event published later reaches no one
    host.publish_event("approval", "k", "late")
    time.sleep(0.1)
    assert log.count("after-wait") == 1


def test_cancel_condition_without_proceed_ends_that_path(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, cancel_workflow(log, proceed=False))
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert "after-wait" not in log
    assert log[-1] == "end" and log.count("end") == 1
    waits = [p for p in inst.execution_pointers if p.event_name == "approval"]
    assert waits[0].status is PointerStatus.CANCELLED


def test_cancel_condition_already_true_when_reached(host: WorkflowHost) -> None:
    log: list[str] = []

    def set_flag(context: Any) -> None:
        context.workflow.data.flag = True

    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start", set_flag))
            .wait_for("approval", lambda d, c: "k")
            .cancel_condition(lambda d, c: d.flag, proceed_after_cancel=True)
            .then(rec(log, "after-wait"))
        ),
    )
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["start", "after-wait"]


def test_wait_for_with_cancel_condition_still_receives_its_event(host: WorkflowHost) -> None:
    log: list[str] = []
    received = threading.Event()

    def got(context: Any) -> None:
        received.set()

    define(
        host,
        lambda b: (
            b.start_with(rec(log, "start"))
            .wait_for("approval", lambda d, c: "k")
            .cancel_condition(lambda d, c: d.flag, proceed_after_cancel=True)
            .output("value", lambda step: step.event_data)
            .then(rec(log, "after-wait", got))
        ),
    )
    wid = host.start_workflow("W", None, None)
    wait_until(lambda: is_waiting(host, wid))
    host.publish_event("approval", "k", "yes")
    inst = host.wait_for_workflow(wid, timeout=WAIT)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["start", "after-wait"]
    assert inst.data.value == "yes"


# -- a workflow or branch may begin with a primitive (Workflow Core's builder is a step modifier too) ---------


def test_branches_and_workflows_may_begin_with_a_primitive(host: WorkflowHost) -> None:
    log: list[str] = []

    def build(b: WorkflowBuilder) -> None:
        (
            b.parallel()
            .do(lambda p: p.wait_for("go", lambda d, c: "k").output("value", lambda step: step.event_data))
            .do(lambda p: p.if_(lambda d, c: True).do(lambda i: i.start_with(rec(log, "in-if"))))
            .do(lambda p: p.delay(lambda d, c: 10 * MS).then(rec(log, "after-delay")))
            .join()
            .then(rec(log, "joined"))
        )

    define(host, build)
    wid = host.start_workflow("W", None, None)
    wait_until(lambda: waits_for(host, wid, "go"))
    host.publish_event("go", "k", "went")
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert sorted(log[:-1]) == ["after-delay", "in-if"] and log[-1] == "joined"
    assert inst.data.value == "went"


def test_a_workflow_may_begin_with_a_saga(host: WorkflowHost) -> None:
    log: list[str] = []

    def fail(context: Any) -> None:
        log.append("B")
        raise RuntimeError("B failed")

    define(
        host,
        lambda b: b.saga(lambda s: s.start_with(rec(log, "A")).compensate_with(rec(log, "UA")).then(fail)).then(
            rec(log, "after")
        ),
    )
    inst = run(host, "W")
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["A", "B", "UA", "after"]
