"""Workflow Core parity, compensation: sagas, compensate_with, compensate_with_sequence, saga retry.
End to end on the in-memory default, public API only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import LOG, MS, Flaky, define, rec, run

from liteflow.core import ErrorBehavior, PointerStatus, StepBuilder, WorkflowHost, WorkflowStatus

pytestmark = pytest.mark.host_options(retry_interval=20 * MS, started=True)

Middle = Callable[[StepBuilder], StepBuilder]


def r(name: str) -> Callable[[Any], None]:
    """A step that appends ``name`` to the shared LOG and to ``data.done``."""
    return rec(LOG, name)


def fail(name: str, times: int | None = None) -> Flaky:
    """A step that records itself in LOG and raises (every time, or its first ``times`` runs)."""
    return Flaky(LOG, name, failures=times)


def run_between(host: WorkflowHost, middle: Middle, after: str = "after") -> Any:
    """Runs a workflow of step "begin", then what ``middle`` adds, then step ``after``; returns it finished."""
    define(host, lambda b: middle(b.start_with(r("begin"))).then(r(after)))
    return run(host)


def statuses(inst: Any) -> list[PointerStatus]:
    return [p.status for p in inst.execution_pointers]


def item_step(context: Any) -> None:
    LOG.append(f"item{context.item}")
    if context.item == 3:
        raise RuntimeError("item 3 failed")


@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        pytest.param(
            lambda b: b.saga(
                lambda s: (
                    s.start_with(r("A"))
                    .compensate_with(r("UA"))
                    .then(r("B"))
                    .then(r("C"))
                    .compensate_with(r("UC"))
                    .then(fail("D"))
                )
            ),
            ["begin", "A", "B", "C", "D", "UC", "UA", "after"],
            id="saga_failing_step_without_compensation_undoes_the_earlier_ones",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda s: (
                    s.start_with(r("A"))
                    .compensate_with_sequence(lambda c: c.start_with(r("UA1")).then(r("UA2")))
                    .then(r("B"))
                    .compensate_with(r("UB"))
                    .then(fail("C"))
                )
            ),
            # one compensation after another, newest first, each sequence in order
            ["begin", "A", "B", "C", "UB", "UA1", "UA2", "after"],
            id="saga_with_compensation_sequences",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda s: s.start_with(r("A")).compensate_with(r("UA")).then(fail("B")).compensate_with(r("UB"))
            ).compensate_with(r("USaga")),
            ["begin", "A", "B", "UB", "UA", "USaga", "after"],
            id="saga_with_its_own_compensation_runs_it_last_and_continues",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda outer: (
                    outer.start_with(r("A"))
                    .compensate_with(r("UA"))
                    .saga(
                        lambda inner: (
                            inner.start_with(r("B")).compensate_with(r("UB")).then(fail("C")).compensate_with(r("UC"))
                        )
                    )
                    .compensate_with(r("UInner"))
                    .then(r("D-never"))
                )
            ),
            ["begin", "A", "B", "C", "UC", "UB", "UInner", "UA", "after"],
            id="nested_saga_failure_undoes_the_outer_saga_too",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda outer: (
                    outer.start_with(r("A"))
                    .compensate_with(r("UA"))
                    .saga(lambda inner: inner.start_with(r("B")).compensate_with(r("UB")).then(fail("C", times=1)))
                    .on_error(ErrorBehavior.RETRY, 5 * MS)
                    .then(r("D"))
                )
            ),
            ["begin", "A", "B", "C", "UB", "B", "C", "D", "after"],
            id="nested_saga_with_retry_retries_only_itself",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda s: (
                    s.start_with(r("A"))
                    .compensate_with(r("UA"))
                    .if_(lambda d, c: True)
                    .do(lambda i: i.start_with(r("B")).compensate_with(r("UB")).then(fail("C")))
                    .compensate_with(r("UIf"))
                    .then(r("never"))
                )
            ),
            ["begin", "A", "B", "C", "UB", "UIf", "UA", "after"],
            id="failure_inside_an_if_inside_a_saga",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda s: (
                    s.start_with(r("A"))
                    .compensate_with(r("UA"))
                    .then(fail("B", times=2))
                    .on_error(ErrorBehavior.RETRY, 5 * MS)
                    .then(r("C"))
                )
            ),
            ["begin", "A", "B", "B", "B", "C", "after"],
            id="step_in_a_saga_with_on_error_retry_retries_instead_of_compensating",
        ),
        pytest.param(
            lambda b: b.saga(
                lambda s: (
                    s.start_with(r("A"))
                    .compensate_with(r("UA"))
                    .for_each(lambda d, c: [1, 2, 3], run_parallel=False)
                    .do(lambda f: f.start_with(item_step))
                    .then(r("never"))
                )
            ),
            ["begin", "A", "item1", "item2", "item3", "UA", "after"],
            id="nested_for_each_inside_saga_compensates_completed_items",
        ),
    ],
)
def test_saga_compensates_and_the_workflow_completes(host: WorkflowHost, middle: Middle, expected: list[str]) -> None:
    inst = run_between(host, middle)
    assert inst.status is WorkflowStatus.COMPLETE
    assert expected == LOG


def test_saga_failure_compensates_newest_first_including_the_failing_step(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(
            lambda s: (
                s.start_with(r("A"))
                .compensate_with(r("UA"))
                .then(r("B"))
                .compensate_with(r("UB"))
                .then(fail("C"))
                .compensate_with(r("UC"))
                .then(r("D-never"))
            )
        ),
    )
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG == ["begin", "A", "B", "C", "UC", "UB", "UA", "after"]
    assert inst.data.done == ["begin", "A", "B", "UC", "UB", "UA", "after"]
    assert statuses(inst).count(PointerStatus.COMPENSATED) == 3
    errors = host.get_errors(inst.id)
    assert len(errors) == 1 and "C failed" in errors[0].message


def test_saga_that_succeeds_runs_no_compensation(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(lambda s: s.start_with(r("A")).compensate_with(r("UA")).then(r("B")).compensate_with(r("UB"))),
    )
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG == ["begin", "A", "B", "after"]
    assert PointerStatus.COMPENSATED not in statuses(inst)


def test_saga_with_no_compensations_stops_its_branch_and_continues(host: WorkflowHost) -> None:
    inst = run_between(host, lambda b: b.saga(lambda s: s.start_with(r("A")).then(fail("B")).then(r("C-never"))))
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG == ["begin", "A", "B", "after"]
    failed = [p for p in inst.execution_pointers if p.status is PointerStatus.FAILED]
    assert len(failed) == 1


def test_saga_on_error_retry_reruns_until_it_succeeds(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(
            lambda s: (
                s.start_with(r("A"))
                .compensate_with(r("UA"))
                .then(fail("B", times=2))
                .compensate_with(r("UB"))
                .then(r("C"))
            )
        ).on_error(ErrorBehavior.RETRY, 10 * MS),
    )
    assert inst.status is WorkflowStatus.COMPLETE
    round_ = ["A", "B", "UB", "UA"]
    assert ["begin", *round_, *round_, "A", "B", "C", "after"] == LOG
    assert LOG.count("UA") == 2 and LOG.count("UB") == 2  # once per failure
    assert LOG.count("after") == 1


def test_saga_retry_max_retries_then_terminate(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(lambda s: s.start_with(r("A")).compensate_with(r("UA")).then(fail("B"))).on_error(
            ErrorBehavior.RETRY, 5 * MS, max_retries=2, then=ErrorBehavior.TERMINATE
        ),
        after="after-never",
    )
    assert inst.status is WorkflowStatus.TERMINATED
    assert ["begin", *(["A", "B", "UA"] * 3)] == LOG


def test_saga_retry_max_retries_then_suspend_and_resume_runs_it_again(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(lambda s: s.start_with(r("A")).compensate_with(r("UA")).then(fail("B", times=2))).on_error(
            ErrorBehavior.RETRY, 5 * MS, max_retries=1, then=ErrorBehavior.SUSPEND
        ),
    )
    assert inst.status is WorkflowStatus.SUSPENDED
    assert LOG == ["begin", "A", "B", "UA", "A", "B", "UA"]  # compensated before suspending
    assert host.resume_workflow(inst.id)
    inst = host.wait_for_workflow(inst.id, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG == ["begin", "A", "B", "UA", "A", "B", "UA", "A", "B", "after"]


def test_saga_on_error_terminate_compensates_then_terminates(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(
            lambda s: (
                s.start_with(r("A")).compensate_with(r("UA")).then(r("B")).compensate_with(r("UB")).then(fail("C"))
            )
        ).on_error(ErrorBehavior.TERMINATE),
        after="after-never",
    )
    assert inst.status is WorkflowStatus.TERMINATED
    assert LOG == ["begin", "A", "B", "C", "UB", "UA"]
    assert len(host.get_errors(inst.id)) == 1


def test_step_outside_a_saga_with_compensation_compensates_and_continues(host: WorkflowHost) -> None:
    inst = run_between(host, lambda b: b.then(fail("A")).compensate_with(r("UA")))
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG == ["begin", "A", "UA", "after"]
    failed = [p for p in inst.execution_pointers if p.step_id == 1]
    assert [p.status for p in failed] == [PointerStatus.COMPENSATED]


def test_compensate_with_sequence_runs_every_step_in_order(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.then(fail("A")).compensate_with_sequence(
            lambda c: c.start_with(r("U1")).then(r("U2")).then(r("U3"))
        ),
    )
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG[:2] == ["begin", "A"]
    assert [x for x in LOG if x.startswith("U")] == ["U1", "U2", "U3"]
    # as in Workflow Core, the steps after the failed one start alongside its compensation; the
    # workflow completes only once both have finished
    assert sorted(LOG[2:]) == ["U1", "U2", "U3", "after"]
    assert inst.data.done[-1] in ("U3", "after")


def test_step_in_a_saga_retries_then_compensates_the_saga(host: WorkflowHost) -> None:
    inst = run_between(
        host,
        lambda b: b.saga(
            lambda s: (
                s.start_with(r("A"))
                .compensate_with(r("UA"))
                .then(fail("B"))
                .compensate_with(r("UB"))
                .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=2, then=ErrorBehavior.COMPENSATE)
                .then(r("never"))
            )
        ),
    )
    assert inst.status is WorkflowStatus.COMPLETE
    assert LOG == ["begin", "A", "B", "B", "B", "UB", "UA", "after"]
    assert len(host.get_errors(inst.id)) == 3
