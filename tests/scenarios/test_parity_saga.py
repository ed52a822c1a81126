"""Workflow Core parity, compensation: sagas, compensate_with, compensate_with_sequence, saga retry.
End to end on the in-memory default, public API only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core import (
    ErrorBehavior,
    PointerStatus,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
    configure_workflow_host,
)

MS = timedelta(milliseconds=1)


class Data:
    def __init__(self) -> None:
        self.attempts = 0
        self.fail_until = 0
        self.done: list[str] = []


@pytest.fixture
def host() -> Iterator[WorkflowHost]:
    h = configure_workflow_host(poll_interval=0.1, retry_interval=timedelta(milliseconds=20))
    h.start()
    try:
        yield h
    finally:
        h.stop()


def register(host: WorkflowHost, build: Callable[[WorkflowBuilder], Any], wid: str = "W") -> str:
    class W(Workflow):
        data_type = Data

        def id(self) -> str:
            return wid

        def build(self, builder: WorkflowBuilder) -> None:
            build(builder)

    host.register_workflow(W())
    return wid


def rec(log: list[str], name: str) -> Callable[[Any], None]:
    """A step that appends ``name`` to ``log`` and to ``data.done``."""

    def step(context: Any) -> None:
        log.append(name)
        context.workflow.data.done.append(name)

    return step


def fail(log: list[str], name: str, times: int | None = None) -> Callable[[Any], None]:
    """A step that records itself and raises (every time, or its first ``times`` runs)."""
    runs = {"n": 0}

    def step(context: Any) -> None:
        log.append(name)
        runs["n"] += 1
        if times is None or runs["n"] <= times:
            raise RuntimeError(f"{name} failed")
        context.workflow.data.done.append(name)

    return step


def run(host: WorkflowHost, wid: str = "W", timeout: float = 10) -> Any:
    return host.wait_for_workflow(host.start_workflow(wid, None, None), timeout=timeout)


def statuses(inst: Any) -> list[PointerStatus]:
    return [p.status for p in inst.execution_pointers]


def test_saga_failure_compensates_newest_first_including_the_failing_step(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(rec(log, "B"))
                    .compensate_with(rec(log, "UB"))
                    .then(fail(log, "C"))
                    .compensate_with(rec(log, "UC"))
                    .then(rec(log, "D-never"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "C", "UC", "UB", "UA", "after"]
    assert inst.data.done == ["begin", "A", "B", "UC", "UB", "UA", "after"]
    assert statuses(inst).count(PointerStatus.COMPENSATED) == 3
    errors = host.get_errors(inst.id)
    assert len(errors) == 1 and "C failed" in errors[0].message


def test_saga_failing_step_without_compensation_undoes_the_earlier_ones(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(rec(log, "B"))
                    .then(rec(log, "C"))
                    .compensate_with(rec(log, "UC"))
                    .then(fail(log, "D"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "C", "D", "UC", "UA", "after"]


def test_saga_that_succeeds_runs_no_compensation(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(rec(log, "B"))
                    .compensate_with(rec(log, "UB"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "after"]
    assert PointerStatus.COMPENSATED not in statuses(inst)


def test_saga_with_no_compensations_stops_its_branch_and_continues(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(lambda s: s.start_with(rec(log, "A")).then(fail(log, "B")).then(rec(log, "C-never")))
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "after"]
    failed = [p for p in inst.execution_pointers if p.status is PointerStatus.FAILED]
    assert len(failed) == 1


def test_saga_on_error_retry_reruns_until_it_succeeds(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(fail(log, "B", times=2))
                    .compensate_with(rec(log, "UB"))
                    .then(rec(log, "C"))
                )
            )
            .on_error(ErrorBehavior.RETRY, 10 * MS)
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    round_ = ["A", "B", "UB", "UA"]
    assert log == ["begin", *round_, *round_, "A", "B", "C", "after"]
    assert log.count("UA") == 2 and log.count("UB") == 2  # once per failure
    assert log.count("after") == 1


def test_saga_retry_max_retries_then_terminate(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(lambda s: s.start_with(rec(log, "A")).compensate_with(rec(log, "UA")).then(fail(log, "B")))
            .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=2, then=ErrorBehavior.TERMINATE)
            .then(rec(log, "after-never"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.TERMINATED
    assert log == ["begin", *(["A", "B", "UA"] * 3)]


def test_saga_retry_max_retries_then_suspend_and_resume_runs_it_again(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(lambda s: s.start_with(rec(log, "A")).compensate_with(rec(log, "UA")).then(fail(log, "B", times=2)))
            .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=1, then=ErrorBehavior.SUSPEND)
            .then(rec(log, "after"))
        ),
    )
    wid = host.start_workflow("W", None, None)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.SUSPENDED
    assert log == ["begin", "A", "B", "UA", "A", "B", "UA"]  # compensated before suspending
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "UA", "A", "B", "UA", "A", "B", "after"]


def test_saga_on_error_terminate_compensates_then_terminates(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(rec(log, "B"))
                    .compensate_with(rec(log, "UB"))
                    .then(fail(log, "C"))
                )
            )
            .on_error(ErrorBehavior.TERMINATE)
            .then(rec(log, "after-never"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.TERMINATED
    assert log == ["begin", "A", "B", "C", "UB", "UA"]
    assert len(host.get_errors(inst.id)) == 1


def test_step_outside_a_saga_with_compensation_compensates_and_continues(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin")).then(fail(log, "A")).compensate_with(rec(log, "UA")).then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "UA", "after"]
    failed = [p for p in inst.execution_pointers if p.step_id == 1]
    assert [p.status for p in failed] == [PointerStatus.COMPENSATED]


def test_compensate_with_sequence_runs_every_step_in_order(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(fail(log, "A"))
            .compensate_with_sequence(lambda c: c.start_with(rec(log, "U1")).then(rec(log, "U2")).then(rec(log, "U3")))
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log[:2] == ["begin", "A"]
    assert [x for x in log if x.startswith("U")] == ["U1", "U2", "U3"]
    # as in Workflow Core, the steps after the failed one start alongside its compensation; the
    # workflow completes only once both have finished
    assert sorted(log[2:]) == ["U1", "U2", "U3", "after"]
    assert inst.data.done[-1] in ("U3", "after")


def test_saga_with_compensation_sequences(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with_sequence(lambda c: c.start_with(rec(log, "UA1")).then(rec(log, "UA2")))
                    .then(rec(log, "B"))
                    .compensate_with(rec(log, "UB"))
                    .then(fail(log, "C"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    # one compensation after another, newest first, each sequence in order
    assert log == ["begin", "A", "B", "C", "UB", "UA1", "UA2", "after"]


def test_saga_with_its_own_compensation_runs_it_last_and_continues(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(fail(log, "B"))
                    .compensate_with(rec(log, "UB"))
                )
            )
            .compensate_with(rec(log, "USaga"))
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "UB", "UA", "USaga", "after"]


def test_nested_saga_failure_undoes_the_outer_saga_too(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda outer: (
                    outer.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .saga(
                        lambda inner: (
                            inner.start_with(rec(log, "B"))
                            .compensate_with(rec(log, "UB"))
                            .then(fail(log, "C"))
                            .compensate_with(rec(log, "UC"))
                        )
                    )
                    .compensate_with(rec(log, "UInner"))
                    .then(rec(log, "D-never"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "C", "UC", "UB", "UInner", "UA", "after"]


def test_nested_saga_with_retry_retries_only_itself(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda outer: (
                    outer.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .saga(
                        lambda inner: (
                            inner.start_with(rec(log, "B"))
                            .compensate_with(rec(log, "UB"))
                            .then(fail(log, "C", times=1))
                        )
                    )
                    .on_error(ErrorBehavior.RETRY, 5 * MS)
                    .then(rec(log, "D"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "C", "UB", "B", "C", "D", "after"]


def test_failure_inside_an_if_inside_a_saga(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .if_(lambda d, c: True)
                    .do(lambda i: i.start_with(rec(log, "B")).compensate_with(rec(log, "UB")).then(fail(log, "C")))
                    .compensate_with(rec(log, "UIf"))
                    .then(rec(log, "never"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "C", "UB", "UIf", "UA", "after"]


def test_step_in_a_saga_with_on_error_retry_retries_instead_of_compensating(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(fail(log, "B", times=2))
                    .on_error(ErrorBehavior.RETRY, 5 * MS)
                    .then(rec(log, "C"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "B", "B", "C", "after"]


def test_nested_for_each_inside_saga_compensates_completed_items(host: WorkflowHost) -> None:
    log: list[str] = []

    def item_step(context: Any) -> None:
        log.append(f"item{context.item}")
        if context.item == 3:
            raise RuntimeError("item 3 failed")

    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .for_each(lambda d, c: [1, 2, 3], run_parallel=False)
                    .do(lambda f: f.start_with(item_step))
                    .then(rec(log, "never"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "item1", "item2", "item3", "UA", "after"]


def test_step_in_a_saga_retries_then_compensates_the_saga(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .saga(
                lambda s: (
                    s.start_with(rec(log, "A"))
                    .compensate_with(rec(log, "UA"))
                    .then(fail(log, "B"))
                    .compensate_with(rec(log, "UB"))
                    .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=2, then=ErrorBehavior.COMPENSATE)
                    .then(rec(log, "never"))
                )
            )
            .then(rec(log, "after"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "B", "B", "B", "UB", "UA", "after"]
    assert len(host.get_errors(inst.id)) == 3
