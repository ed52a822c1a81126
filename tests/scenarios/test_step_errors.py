"""Errors a step raised: the traceback kept and logged, errors that are not retried, fresh retries on
resume, and a retry interval of zero. Run on every provider."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from support import MS, Flaky, define, rec, run

from liteflow.core import (
    DefinitionError,
    ErrorBehavior,
    NonRetryableError,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)

pytestmark = pytest.mark.host_options(retry_interval=20 * MS, started=True)


def lookup(context: Any) -> None:
    _missing_field({})


def _missing_field(record: dict[str, Any]) -> Any:
    return record["missing-field"]


def test_errors_keep_the_formatted_traceback(host: WorkflowHost) -> None:
    define(host, lambda b: b.start_with(lookup).on_error(ErrorBehavior.TERMINATE))
    inst = run(host)
    assert inst.status is WorkflowStatus.TERMINATED
    [error] = host.get_errors(inst.id)
    assert error.message == "KeyError: 'missing-field'"
    assert error.details.startswith("Traceback (most recent call last):")
    assert "_missing_field" in error.details and 'record["missing-field"]' in error.details
    assert error.details.rstrip().endswith("KeyError: 'missing-field'")


def test_a_failure_is_logged_once_with_its_traceback(host: WorkflowHost, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="liteflow")
    log: list[str] = []
    define(
        host,
        lambda b: b.start_with(Flaky(log, "A", failures=2)).on_error(ErrorBehavior.RETRY, 5 * MS).then(rec(log, "B")),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE
    failures = [r for r in caplog.records if "step.failed" in r.getMessage()]
    assert len(failures) == 2  # one line per failure
    for record in failures:
        assert record.levelno == logging.WARNING
        assert "Traceback (most recent call last)" in record.getMessage()
        assert "A failed (run" in record.getMessage()


def missing(context: Any) -> None:
    raise KeyError("x")


class Refused(NonRetryableError):
    pass


def refuse(context: Any) -> None:
    raise Refused("card declined")


@pytest.mark.parametrize("body", [refuse, missing], ids=["NonRetryableError", "non_retryable"])
def test_non_retryable_failures_skip_retries_and_terminate(host: WorkflowHost, body: Any) -> None:
    log: list[str] = []

    def step(context: Any) -> None:
        log.append("A")
        body(context)

    define(
        host,
        lambda b: (
            b.start_with(step)
            .on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=5, non_retryable=(KeyError,))
            .then(rec(log, "never"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.TERMINATED
    assert log == ["A"]
    assert len(host.get_errors(inst.id)) == 1


def test_non_retryable_error_without_on_error_terminates(host: WorkflowHost) -> None:
    log: list[str] = []

    def step(context: Any) -> None:
        log.append("A")
        refuse(context)

    define(host, lambda b: b.start_with(step).then(rec(log, "never")))
    inst = run(host)
    assert inst.status is WorkflowStatus.TERMINATED and log == ["A"]


def test_non_retryable_goes_to_the_then_behaviour(host: WorkflowHost) -> None:
    log: list[str] = []

    def step(context: Any) -> None:
        log.append("A")
        missing(context)

    define(
        host,
        lambda b: (
            b.start_with(step)
            .on_error(ErrorBehavior.RETRY, 5 * MS, then=ErrorBehavior.SUSPEND, non_retryable=(LookupError,))
            .then(rec(log, "never"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.SUSPENDED and log == ["A"]


def test_other_errors_are_still_retried(host: WorkflowHost) -> None:
    log: list[str] = []
    define(
        host,
        lambda b: (
            b.start_with(Flaky(log, "A", failures=2))
            .on_error(ErrorBehavior.RETRY, 5 * MS, non_retryable=(KeyError,))
            .then(rec(log, "B"))
        ),
    )
    inst = run(host)
    assert inst.status is WorkflowStatus.COMPLETE and log == ["A", "A", "A", "B"]


def test_non_retryable_must_be_exception_types(host: WorkflowHost) -> None:
    def build(b: WorkflowBuilder) -> None:
        b.start_with(missing).on_error(ErrorBehavior.RETRY, non_retryable=("KeyError",))

    with pytest.raises(DefinitionError, match="non_retryable"):
        define(host, build)


def test_resume_after_an_error_suspension_gives_a_fresh_set_of_retries(host: WorkflowHost) -> None:
    log: list[str] = []
    flaky = Flaky(log, "A")  # fails every run
    define(
        host,
        lambda b: b.start_with(flaky).on_error(ErrorBehavior.RETRY, 5 * MS, max_retries=1, then=ErrorBehavior.SUSPEND),
    )
    wid = host.start_workflow("W", None, None)
    assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.SUSPENDED
    assert log == ["A", "A"]
    assert host.resume_workflow(wid)
    deadline = time.monotonic() + 10
    while len(log) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.SUSPENDED
    assert log == ["A", "A", "A", "A"]  # two attempts again (max_retries=1), not one
    time.sleep(0.1)
    assert len(log) == 4


def test_resume_after_on_error_suspend_runs_the_step_again(host: WorkflowHost) -> None:
    log: list[str] = []
    flaky = Flaky(log, "A", failures=1)
    define(host, lambda b: b.start_with(flaky).on_error(ErrorBehavior.SUSPEND).then(rec(log, "B")))
    wid = host.start_workflow("W", None, None)
    assert host.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.SUSPENDED
    assert host.resume_workflow(wid)
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE and log == ["A", "A", "B"]


@pytest.mark.host_options(retry_interval=timedelta(0), started=True)
def test_a_host_retry_interval_of_zero_retries_at_once(host: WorkflowHost) -> None:
    log: list[str] = []
    define(host, lambda b: b.start_with(Flaky(log, "A", failures=2)).then(rec(log, "B")))
    inst = run(host, timeout=5)  # 60 s between retries would time out
    assert inst.status is WorkflowStatus.COMPLETE and log == ["A", "A", "A", "B"]


@pytest.mark.host_options(retry_interval=timedelta(seconds=60), started=True)
def test_a_step_retry_interval_of_zero_retries_at_once(host: WorkflowHost) -> None:
    log: list[str] = []
    flaky = Flaky(log, "A", failures=2)
    define(
        host,
        lambda b: b.start_with(flaky).on_error(ErrorBehavior.RETRY, timedelta(0)).then(rec(log, "B")),
    )
    inst = run(host, timeout=5)
    assert inst.status is WorkflowStatus.COMPLETE and log == ["A", "A", "A", "B"]
    [first, second] = [e.error_time for e in host.get_errors(inst.id)]
    assert second - first < timedelta(seconds=1)


class NeedsArguments(StepBody):
    def __init__(self, url: str) -> None:
        self.url = url

    def run(self, context: StepExecutionContext) -> None:
        return None


class NeedsArgumentsWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).then(NeedsArguments)


def test_a_step_body_that_needs_arguments_is_refused_at_registration(host: WorkflowHost) -> None:
    with pytest.raises(DefinitionError, match=r"step 1 \(NeedsArguments\).*without arguments"):
        host.register_workflow(NeedsArgumentsWorkflow())
