"""Workflow Core parity, error behaviour: on_error SUSPEND, TERMINATE, RETRY (with max_retries,
backoff and a behaviour after the retries). End to end on the in-memory default, public API only."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support import MS, Flaky, define, rec, run

from liteflow.core import (
    ErrorBehavior,
    PointerStatus,
    WorkflowBuilder,
    WorkflowError,
    WorkflowHost,
    WorkflowStatus,
    WorkflowSuspended,
    WorkflowTerminated,
)

pytestmark = pytest.mark.host_options(retry_interval=20 * MS, started=True)


def retry_then(log: list[str], max_retries: int, then: ErrorBehavior) -> Any:
    """begin, then a step failing twice that retries ``max_retries`` times before ``then``, then after."""

    def build(b: WorkflowBuilder) -> None:
        (
            b.start_with(rec(log, "begin"))
            .then(Flaky(log, "A", failures=2))
            .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=max_retries, then=then)
            .then(rec(log, "after"))
        )

    return build


def test_default_behaviour_retries_after_the_host_retry_interval(host: WorkflowHost) -> None:
    log: list[str] = []
    flaky = Flaky(log, "A", failures=2)
    define(host, lambda b: b.start_with(rec(log, "begin")).then(flaky).then(rec(log, "after")))
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "A", "after"]
    assert all(g >= 0.015 for g in flaky.gaps())
    assert len(host.get_errors(inst.id)) == 2


def test_on_error_suspend_suspends_and_resume_retries_the_step(host: WorkflowHost) -> None:
    log: list[str] = []
    events: list[Any] = []
    host.on_lifecycle_event(events.append)
    flaky = Flaky(log, "A", failures=1)
    define(
        host,
        lambda b: b.start_with(rec(log, "begin")).then(flaky).on_error(ErrorBehavior.SUSPEND).then(rec(log, "after")),
    )
    inst = run(host)
    wid = inst.id
    assert inst.status is WorkflowStatus.SUSPENDED
    assert log == ["begin", "A"]
    assert [type(e) for e in events if isinstance(e, (WorkflowSuspended, WorkflowError))] == [
        WorkflowError,
        WorkflowSuspended,
    ]
    time.sleep(0.15)  # stays suspended
    assert log == ["begin", "A"]
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "after"]
    assert inst.data.done == ["begin", "A", "after"]


def test_on_error_terminate_ends_the_workflow(host: WorkflowHost) -> None:
    log: list[str] = []
    events: list[Any] = []
    host.on_lifecycle_event(events.append)
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(Flaky(log, "A"))
            .on_error(ErrorBehavior.TERMINATE)
            .then(rec(log, "never"))
        ),
    )
    inst = run(host)
    wid = inst.id
    assert inst.status is WorkflowStatus.TERMINATED
    assert inst.complete_time is not None
    assert log == ["begin", "A"]
    failed = [p for p in inst.execution_pointers if p.step_id == 1]
    assert [p.status for p in failed] == [PointerStatus.FAILED]
    assert sum(isinstance(e, WorkflowTerminated) for e in events) == 1
    assert not host.resume_workflow(wid)


@pytest.mark.parametrize(
    ("then", "final"),
    [(ErrorBehavior.TERMINATE, WorkflowStatus.TERMINATED), (ErrorBehavior.SUSPEND, WorkflowStatus.SUSPENDED)],
)
def test_retry_max_retries_with_backoff_then_behaviour(
    host: WorkflowHost, then: ErrorBehavior, final: WorkflowStatus
) -> None:
    log: list[str] = []
    flaky = Flaky(log, "A")
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(flaky)
            .on_error(ErrorBehavior.RETRY, 20 * MS, max_retries=3, backoff=2.0, then=then)
            .then(rec(log, "never"))
        ),
    )
    inst = run(host)
    wid = inst.id
    assert inst.status is final
    assert log == ["begin", "A", "A", "A", "A"]  # N + 1 attempts
    gaps = flaky.gaps()
    # waits of 20, 40 and 80 ms (loose: never early, and growing)
    assert gaps[0] >= 0.018 and gaps[1] >= 0.038 and gaps[2] >= 0.078
    assert gaps[2] > gaps[0]
    assert len(host.get_errors(wid)) == 4
    time.sleep(0.2)
    assert log.count("A") == 4  # nothing more after giving up


def test_retry_max_retries_succeeding_in_time_carries_on(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, retry_then(log, max_retries=2, then=ErrorBehavior.TERMINATE))
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "A", "after"]


def test_retry_then_suspend_resume_gives_the_step_another_attempt(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, retry_then(log, max_retries=1, then=ErrorBehavior.SUSPEND))
    wid = host.start_workflow("W", None, None)
    assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.SUSPENDED
    assert log == ["begin", "A", "A"]
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "A", "after"]


def test_a_failing_step_does_not_disturb_other_workflows(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, lambda b: b.start_with(Flaky(log, "bad")).on_error(ErrorBehavior.TERMINATE), wid="Bad")
    define(host, lambda b: b.start_with(rec(log, "good1")).then(rec(log, "good2")), wid="Good")
    bad = host.start_workflow("Bad", None, None)
    good = host.start_workflow("Good", None, None)
    assert host.wait_for_workflow(bad, timeout=10).status is WorkflowStatus.TERMINATED
    assert host.wait_for_workflow(good, timeout=10).status is WorkflowStatus.COMPLETE
    assert log.index("good1") < log.index("good2")
