"""Workflow Core parity, error behaviour: on_error SUSPEND, TERMINATE, RETRY (with max_retries,
backoff and a behaviour after the retries). End to end on the in-memory default, public API only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core import (
    ErrorBehavior,
    PointerStatus,
    Workflow,
    WorkflowBuilder,
    WorkflowError,
    WorkflowHost,
    WorkflowStatus,
    WorkflowSuspended,
    WorkflowTerminated,
    configure_workflow_host,
)

MS = timedelta(milliseconds=1)


class Data:
    def __init__(self) -> None:
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
    def step(context: Any) -> None:
        log.append(name)
        context.workflow.data.done.append(name)

    return step


class Flaky:
    """A step that fails its first ``failures`` runs (every run if None), noting when each run began."""

    def __init__(self, log: list[str], name: str, failures: int | None = None) -> None:
        self.log, self.name, self.failures = log, name, failures
        self.times: list[float] = []

    def __call__(self, context: Any) -> None:
        self.log.append(self.name)
        self.times.append(time.monotonic())
        if self.failures is None or len(self.times) <= self.failures:
            raise RuntimeError(f"{self.name} failed (run {len(self.times)})")
        context.workflow.data.done.append(self.name)

    def gaps(self) -> list[float]:
        return [b - a for a, b in pairwise(self.times)]


def start(host: WorkflowHost, wid: str = "W") -> str:
    return host.start_workflow(wid, None, None)


def test_default_behaviour_retries_after_the_host_retry_interval(host: WorkflowHost) -> None:
    log: list[str] = []
    flaky = Flaky(log, "A", failures=2)
    register(host, lambda b: b.start_with(rec(log, "begin")).then(flaky).then(rec(log, "after")))
    inst = host.wait_for_workflow(start(host), timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "A", "after"]
    assert all(g >= 0.015 for g in flaky.gaps())
    assert len(host.get_errors(inst.id)) == 2


def test_on_error_suspend_suspends_and_resume_retries_the_step(host: WorkflowHost) -> None:
    log: list[str] = []
    events: list[Any] = []
    host.on_lifecycle_event(events.append)
    flaky = Flaky(log, "A", failures=1)
    register(
        host,
        lambda b: b.start_with(rec(log, "begin")).then(flaky).on_error(ErrorBehavior.SUSPEND).then(rec(log, "after")),
    )
    wid = start(host)
    inst = host.wait_for_workflow(wid, timeout=10)
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
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(Flaky(log, "A"))
            .on_error(ErrorBehavior.TERMINATE)
            .then(rec(log, "never"))
        ),
    )
    wid = start(host)
    inst = host.wait_for_workflow(wid, timeout=10)
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
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(flaky)
            .on_error(ErrorBehavior.RETRY, 20 * MS, max_retries=3, backoff=2.0, then=then)
            .then(rec(log, "never"))
        ),
    )
    wid = start(host)
    inst = host.wait_for_workflow(wid, timeout=10)
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
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(Flaky(log, "A", failures=2))
            .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=2, then=ErrorBehavior.TERMINATE)
            .then(rec(log, "after"))
        ),
    )
    inst = host.wait_for_workflow(start(host), timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "A", "after"]


def test_retry_then_suspend_resume_gives_the_step_another_attempt(host: WorkflowHost) -> None:
    log: list[str] = []
    register(
        host,
        lambda b: (
            b.start_with(rec(log, "begin"))
            .then(Flaky(log, "A", failures=2))
            .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=1, then=ErrorBehavior.SUSPEND)
            .then(rec(log, "after"))
        ),
    )
    wid = start(host)
    assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.SUSPENDED
    assert log == ["begin", "A", "A"]
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["begin", "A", "A", "A", "after"]


def test_a_failing_step_does_not_disturb_other_workflows(host: WorkflowHost) -> None:
    log: list[str] = []
    register(host, lambda b: b.start_with(Flaky(log, "bad")).on_error(ErrorBehavior.TERMINATE), wid="Bad")
    register(host, lambda b: b.start_with(rec(log, "good1")).then(rec(log, "good2")), wid="Good")
    bad = start(host, "Bad")
    good = start(host, "Good")
    assert host.wait_for_workflow(bad, timeout=10).status is WorkflowStatus.TERMINATED
    assert host.wait_for_workflow(good, timeout=10).status is WorkflowStatus.COMPLETE
    assert log.index("good1") < log.index("good2")
