"""End-to-end error handling: failing steps, retries, error behaviours, and the errors the API raises."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from support import WAIT, make_host, register_and_run, wait_until

from liteflow.core import *

ATTEMPTS: dict[str, int] = {}
RETRY_COUNTS: dict[str, list[int]] = {}
LOCK = threading.Lock()


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    """Each test (each provider's run of it) counts attempts from zero."""
    ATTEMPTS.clear()
    RETRY_COUNTS.clear()


def attempt(key: str) -> int:
    with LOCK:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        return ATTEMPTS[key]


class Data:
    def __init__(self, fail_times: int = 2, key: str = "") -> None:
        self.fail_times = fail_times
        self.key = key
        self.done = False


class Flaky(StepBody):
    """Fails ``data.fail_times`` times, then succeeds."""

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        data = context.workflow.data
        RETRY_COUNTS.setdefault(data.key, []).append(context.execution_pointer.retry_count)
        n = attempt(data.key)
        if n <= data.fail_times:
            raise RuntimeError(f"boom {n}")
        return ExecutionResult.next()


def mark_done(context: StepExecutionContext) -> None:
    context.workflow.data.done = True


class RetryWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Flaky).then(mark_done)


class StepRetryWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Flaky).on_error(ErrorBehavior.RETRY, timedelta(milliseconds=20)).then(mark_done)


class Quick(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(mark_done)


def test_failing_step_is_retried_and_errors_are_recorded(host: WorkflowHost) -> None:
    host.register_workflow(RetryWorkflow())
    host.register_workflow(Quick())
    host.start()
    started = time.monotonic()
    wid = host.start_workflow("RetryWorkflow", 1, Data(fail_times=2, key="retry"))
    other = host.start_workflow("Quick", 1, Data())
    # other workflows keep running while one retries
    assert host.wait_for_workflow(other, timeout=WAIT).data.done
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    elapsed = time.monotonic() - started
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.done
    assert ATTEMPTS["retry"] == 3
    assert RETRY_COUNTS["retry"] == [0, 1, 2]  # the step sees how often it was retried
    assert 0.1 <= elapsed < 2  # two retries 50 ms apart
    first = instance.execution_pointers[0]
    assert first.retry_count == 2
    assert first.status is PointerStatus.COMPLETE
    errors = host.get_errors(wid)
    assert [e.message for e in errors] == ["RuntimeError: boom 1", "RuntimeError: boom 2"]
    assert all(e.workflow_id == wid and e.execution_pointer_id == first.id for e in errors)
    assert host.get_errors(other) == []
    # the host still works
    again = host.start_workflow("Quick", 1, Data())
    assert host.wait_for_workflow(again, timeout=WAIT).status is WorkflowStatus.COMPLETE


def test_per_step_retry_interval(host: WorkflowHost) -> None:
    instance = register_and_run(host, StepRetryWorkflow(), Data(fail_times=3, key="step-retry"))
    assert instance.status is WorkflowStatus.COMPLETE
    assert ATTEMPTS["step-retry"] == 4
    assert len(host.get_errors(instance.id)) == 3


def test_failing_pointer_waits_for_its_retry(host: WorkflowHost) -> None:
    """While waiting to retry, the pointer is FAILED, still active, and sleeps until the retry time."""
    slow = make_host(retry_interval=timedelta(seconds=30))
    try:
        slow.register_workflow(RetryWorkflow())
        slow.start()
        wid = slow.start_workflow("RetryWorkflow", 1, Data(fail_times=1, key="slow"))
        wait_until(lambda: slow.get_errors(wid))
        time.sleep(0.1)
        instance = slow.get_workflow_instance(wid)
        pointer = instance.execution_pointers[0]
        assert instance.status is WorkflowStatus.RUNNABLE
        assert pointer.status is PointerStatus.FAILED and pointer.active
        assert pointer.retry_count == 1
        assert pointer.sleep_until is not None
        assert timedelta(seconds=25) < pointer.sleep_until - slow.get_errors(wid)[0].error_time <= timedelta(seconds=30)
        assert ATTEMPTS["slow"] == 1
    finally:
        slow.stop()


class SuspendOnError(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Flaky).on_error(ErrorBehavior.SUSPEND).then(mark_done)


class TerminateOnError(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Flaky).on_error(ErrorBehavior.TERMINATE).then(mark_done)


def test_error_behavior_suspend_then_resume(host: WorkflowHost) -> None:
    instance = register_and_run(host, SuspendOnError(), Data(fail_times=1, key="suspend"))
    assert instance.status is WorkflowStatus.SUSPENDED
    assert not instance.data.done
    assert len(host.get_errors(instance.id)) == 1
    assert host.resume_workflow(instance.id) is True
    instance = host.wait_for_workflow(instance.id, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.done


def test_error_behavior_terminate(host: WorkflowHost) -> None:
    instance = register_and_run(host, TerminateOnError(), Data(fail_times=1, key="terminate"))
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.complete_time is not None
    assert instance.execution_pointers[0].status is PointerStatus.FAILED
    assert not instance.data.done
    time.sleep(0.2)
    assert ATTEMPTS["terminate"] == 1


def test_bad_step_result_is_an_error(host: WorkflowHost) -> None:
    class BadResult(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: "not a result").on_error(ErrorBehavior.TERMINATE)

    instance = register_and_run(host, BadResult())
    assert instance.status is WorkflowStatus.TERMINATED
    assert "ExecutionResult" in host.get_errors(instance.id)[0].message


# -- errors raised by the API -------------------------------------------------------------------------
def test_unknown_workflow_id_or_version(host: WorkflowHost) -> None:
    host.register_workflow(Quick())
    with pytest.raises(WorkflowNotRegisteredError, match="NoSuchWorkflow"):
        host.start_workflow("NoSuchWorkflow", 1, None)
    with pytest.raises(WorkflowNotRegisteredError, match="NoSuchWorkflow"):
        host.start_workflow("NoSuchWorkflow", None, None)
    with pytest.raises(WorkflowNotRegisteredError, match=r"Quick.*7") as info:
        host.start_workflow("Quick", 7, None)
    assert isinstance(info.value, LiteFlowError)


def test_unknown_instance(host: WorkflowHost) -> None:
    for call in (
        host.get_workflow_instance,
        host.suspend_workflow,
        host.resume_workflow,
        host.terminate_workflow,
        host.wait_for_workflow,
    ):
        with pytest.raises(WorkflowNotFoundError, match="no-such-id") as info:
            call("no-such-id")
        assert isinstance(info.value, LiteFlowError)


class NoStart(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        pass


class ForEachWithoutDo(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(mark_done).for_each(lambda data, context: [1, 2])


class NotAStep:
    def run(self, context: Any) -> None:
        pass


class NonStepBodyClass(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(mark_done).then(NotAStep)


class StepInstance(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Flaky())


class EmptyDoBlock(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(mark_done).if_(lambda data, context: True).do(lambda b: None)


class BuildRaises(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        raise ValueError("cannot build")


@pytest.mark.parametrize(
    ("workflow", "pattern"),
    [
        (NoStart(), r"NoStart.*(start_with|no steps)"),
        (ForEachWithoutDo(), r"ForEachWithoutDo.*Foreach.*do"),
        (NonStepBodyClass(), r"NonStepBodyClass.*NotAStep.*StepBody"),
        (StepInstance(), r"StepInstance.*Flaky.*instance"),
        (EmptyDoBlock(), r"EmptyDoBlock.*start_with"),
        (BuildRaises(), r"BuildRaises.*cannot build"),
    ],
)
def test_invalid_definitions_fail_at_register(host: WorkflowHost, workflow: Workflow, pattern: str) -> None:
    with pytest.raises(DefinitionError, match=pattern) as info:
        host.register_workflow(workflow)
    assert isinstance(info.value, LiteFlowError)
    with pytest.raises(WorkflowNotRegisteredError):
        host.start_workflow(workflow.id())


def test_registering_twice_is_an_error(host: WorkflowHost) -> None:
    host.register_workflow(Quick())
    with pytest.raises(DefinitionError, match="Quick"):
        host.register_workflow(Quick())


def test_register_something_else(host: WorkflowHost) -> None:
    with pytest.raises(DefinitionError, match="Workflow"):
        host.register_workflow(object())


def test_unknown_host_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="poll_intervall"):
        configure_workflow_host(poll_intervall=0.1)
    with pytest.raises(TypeError, match="no_such_option"):
        configure_workflow_host(poll_interval=0.1, no_such_option=True)


def test_step_failures_are_logged(host: WorkflowHost, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="liteflow")
    instance = register_and_run(host, RetryWorkflow(), Data(fail_times=1, key="logged"))
    assert instance.status is WorkflowStatus.COMPLETE
    wid = instance.id
    failures = [r for r in caplog.records if "step.failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    assert wid in failures[0].getMessage() and "boom 1" in failures[0].getMessage()
