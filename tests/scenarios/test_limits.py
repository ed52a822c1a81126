"""Workflow timeouts and concurrency limits, on every provider (the scenario `host` fixture)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from liteflow.core import (
    DefinitionError,
    ExecutionResult,
    PointerStatus,
    StepBody,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
    WorkflowTerminated,
)

pytestmark = pytest.mark.host_options(started=True)


class SleepsLong(StepBody):
    def run(self, context: Any) -> ExecutionResult:
        if context.persistence_data is None:
            return ExecutionResult.sleep(timedelta(hours=1), "slept")
        return ExecutionResult.next()


class Sleeper(Workflow):
    timeout = timedelta(milliseconds=600)

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(SleepsLong).then(lambda context: None)


class Waiter(Workflow):
    timeout = timedelta(milliseconds=600)

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).wait_for("never", lambda data, context: "k").then(
            lambda context: None
        )


class Quick(Workflow):
    timeout = timedelta(seconds=30)

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None)


def _terminations(host: WorkflowHost) -> list[WorkflowTerminated]:
    seen: list[Any] = []
    host.on_lifecycle_event(seen.append, WorkflowTerminated)
    return seen


@pytest.mark.parametrize("workflow", [Sleeper, Waiter], ids=["sleeping", "waiting"])
def test_a_timeout_terminates_a_sleeping_or_waiting_workflow(host: WorkflowHost, workflow: type[Workflow]) -> None:
    host.register_workflow(workflow())
    seen = _terminations(host)
    started = time.monotonic()
    workflow_id = host.start_workflow(workflow.__name__)
    instance = host.wait_for_workflow(workflow_id, timeout=15)
    assert instance.status is WorkflowStatus.TERMINATED
    assert time.monotonic() - started >= 0.55
    assert [(e.workflow_instance_id, e.reason) for e in seen] == [(workflow_id, "timeout")]
    assert all(p.end_time is not None for p in instance.execution_pointers)
    assert PointerStatus.CANCELLED in {p.status for p in instance.execution_pointers}
    assert instance.complete_time is not None


def test_a_workflow_within_its_timeout_completes(host: WorkflowHost) -> None:
    host.register_workflow(Quick())
    seen = _terminations(host)
    assert host.wait_for_workflow(host.start_workflow("Quick"), timeout=10).status is WorkflowStatus.COMPLETE
    assert seen == []


def test_a_terminate_call_has_no_reason(host: WorkflowHost) -> None:
    host.register_workflow(Waiter())
    seen = _terminations(host)
    workflow_id = host.start_workflow("Waiter")
    deadline = time.monotonic() + 10
    while not any(p.event_name for p in host.get_workflow_instance(workflow_id).execution_pointers):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert host.terminate_workflow(workflow_id)
    assert [e.reason for e in seen] == [None]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"timeout": 5}, "timeout must be a positive timedelta"),
        ({"timeout": timedelta(0)}, "timeout must be a positive timedelta"),
        ({"max_concurrency": 2}, "needs a concurrency_key"),
        ({"concurrency_key": staticmethod(lambda d: d), "max_concurrency": 0}, "at least 1"),
    ],
)
def test_limits_are_checked_at_registration(host: WorkflowHost, attributes: dict[str, Any], message: str) -> None:
    bad = type("Bad", (Quick,), attributes)
    with pytest.raises(DefinitionError, match=message):
        host.register_workflow(bad())
