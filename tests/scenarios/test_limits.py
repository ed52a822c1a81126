"""Workflow timeouts and concurrency limits, on every provider (the scenario `host` fixture)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
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
        builder.start_with(lambda context: None).wait_for("never", lambda data, context: "k").then(lambda context: None)


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


class Running:
    """How many steps run at once, as the steps themselves see it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.order: list[str] = []


RUNNING = Running()


class Busy(StepBody):
    def run(self, context: Any) -> None:
        with RUNNING.lock:
            RUNNING.now += 1
            RUNNING.most = max(RUNNING.most, RUNNING.now)
            RUNNING.order.append(context.workflow.reference)
        time.sleep(0.03)  # the step's own work
        with RUNNING.lock:
            RUNNING.now -= 1


class PerCustomer(Workflow):
    concurrency_key = staticmethod(lambda data: data["customer"])
    max_concurrency = 2

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Busy).then(Busy)


class OneAtATime(PerCustomer):
    max_concurrency = 1

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Busy)


@pytest.fixture(autouse=True)
def _reset_running() -> None:
    global RUNNING
    RUNNING = Running()


@pytest.mark.host_options(started=True, max_concurrent_workflows=6)
def test_a_key_runs_at_most_max_concurrency_at_once(host: WorkflowHost) -> None:
    host.register_workflow(PerCustomer())
    ids = [host.start_workflow("PerCustomer", data={"customer": "c1"}, reference=f"r{i}") for i in range(12)]
    others = [host.start_workflow("PerCustomer", data={"customer": "c2"}, reference=f"o{i}") for i in range(2)]
    for workflow_id in ids + others:
        assert host.wait_for_workflow(workflow_id, timeout=60).status is WorkflowStatus.COMPLETE
    assert RUNNING.most <= 4  # two per key, two keys
    assert len(RUNNING.order) == 28
    assert host.get_workflow_instance(ids[0]).concurrency_key == "c1"


@pytest.mark.host_options(started=True, max_concurrent_workflows=6)
def test_one_key_never_exceeds_its_limit(host: WorkflowHost) -> None:
    host.register_workflow(PerCustomer())
    ids = [host.start_workflow("PerCustomer", data={"customer": "c1"}, reference=f"r{i}") for i in range(10)]
    for workflow_id in ids:
        assert host.wait_for_workflow(workflow_id, timeout=60).status is WorkflowStatus.COMPLETE
    assert RUNNING.most == 2


@pytest.mark.host_options(started=False, max_concurrent_workflows=4)
def test_waiting_instances_start_oldest_first(host: WorkflowHost) -> None:
    host.register_workflow(OneAtATime())
    ids = [host.start_workflow("OneAtATime", data={"customer": "c"}, reference=f"r{i}") for i in range(6)]
    host.start()
    for workflow_id in ids:
        assert host.wait_for_workflow(workflow_id, timeout=60).status is WorkflowStatus.COMPLETE
    # whichever worker reached the free slot first ran first; then, as the slot freed, the oldest waiting
    first, *rest = RUNNING.order
    assert rest == [f"r{i}" for i in range(6) if f"r{i}" != first]
    assert RUNNING.most == 1


def test_a_key_that_cannot_be_computed_refuses_the_start(host: WorkflowHost) -> None:
    host.register_workflow(PerCustomer())
    with pytest.raises(ValueError, match="concurrency_key raised KeyError"):
        host.start_workflow("PerCustomer", data={"name": "no customer"})


class Held(StepBody):
    """Holds its key's slot until the test opens the gate."""

    entered = threading.Event()
    gate = threading.Event()

    def run(self, context: Any) -> None:
        RUNNING.order.append(context.workflow.reference)
        Held.entered.set()
        Held.gate.wait(30)


class HeldOneAtATime(OneAtATime):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Held)


def _in_line(host: WorkflowHost, workflow_id: str) -> bool:
    waiting = host.persistence.oldest_waiter("HeldOneAtATime:c")  # type: ignore[attr-defined]
    return waiting is not None and waiting[0] == workflow_id


def test_an_instance_terminated_and_purged_while_in_line_does_not_stop_the_line(host: WorkflowHost) -> None:
    """The first in line is terminated, then purged, while another runs: the ones after it still get
    their turn (they handed it to the purged one, which nobody could load, over and over)."""
    Held.entered.clear()
    Held.gate.clear()
    host.register_workflow(HeldOneAtATime())
    running = host.start_workflow("HeldOneAtATime", data={"customer": "c"}, reference="running")
    assert Held.entered.wait(15)
    gone = host.start_workflow("HeldOneAtATime", data={"customer": "c"}, reference="gone")
    deadline = time.monotonic() + 15
    while not _in_line(host, gone):
        assert time.monotonic() < deadline, "never waited in line"
        time.sleep(0.01)
    assert host.terminate_workflow(gone) is True
    assert host.purge_workflows(WorkflowStatus.TERMINATED, datetime.now(UTC) + timedelta(seconds=1)) == 1
    later = host.start_workflow("HeldOneAtATime", data={"customer": "c"}, reference="later")
    Held.gate.set()
    assert host.wait_for_workflow(running, timeout=15).status is WorkflowStatus.COMPLETE
    assert host.wait_for_workflow(later, timeout=15).status is WorkflowStatus.COMPLETE
    assert RUNNING.order == ["running", "later"]


HOLDING = threading.Event()


class HoldsTheSlot(StepBody):
    def run(self, context: Any) -> None:
        if context.workflow.data["hold"]:
            HOLDING.set()
            time.sleep(2.0)  # the step's own (long) work, while the others wait in line


class Lined(PerCustomer):
    max_concurrency = 1
    timeout = timedelta(milliseconds=500)

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(HoldsTheSlot)


@pytest.mark.host_options(started=True, max_concurrent_workflows=4)
def test_a_timeout_ends_an_instance_waiting_in_line(host: WorkflowHost) -> None:
    host.register_workflow(Lined())
    HOLDING.clear()
    holder = host.start_workflow("Lined", data={"customer": "c", "hold": True})
    assert HOLDING.wait(10)
    # the slot of key "c" is taken for 2 s: this one waits in line, and its 0.5 s timeout ends it there
    waiting = host.start_workflow("Lined", data={"customer": "c", "hold": False})
    started = time.monotonic()
    instance = host.wait_for_workflow(waiting, timeout=10)
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.execution_pointers[0].start_time is None  # its step never ran
    assert time.monotonic() - started < 1.9  # before the slot was given back
    assert host.wait_for_workflow(holder, timeout=10).status is WorkflowStatus.COMPLETE
