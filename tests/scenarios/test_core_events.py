"""End-to-end event scenarios: wait_for, keys, fan-out, as-of semantics, oldest event first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support import QUIET, WAIT, wait_until, waiting_pointers

from liteflow.core import *


def wait_until_waiting(host: WorkflowHost, wid: str, count: int = 1) -> None:
    wait_until(lambda: len(waiting_pointers(host, wid)) >= count)


class Data:
    def __init__(self) -> None:
        self.key = "key1"
        self.captured: Any = None
        self.received: list[Any] = []
        self.rounds = 0


class Done(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        context.workflow.data.received.append("done")
        return ExecutionResult.next()


class WaitWorkflow(Workflow):
    data_type = Data

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("event1", lambda data, context: data.key)
            .output("captured", lambda step: step.event_data)
            .then(Done)
        )


def test_workflow_waits_and_receives_event_data(host: WorkflowHost) -> None:
    host.register_workflow(WaitWorkflow())
    host.start()
    wid = host.start_workflow("WaitWorkflow", 1, None)
    wait_until_waiting(host, wid)
    instance = host.get_workflow_instance(wid)
    assert instance.status is WorkflowStatus.RUNNABLE
    (pointer,) = waiting_pointers(host, wid)
    assert pointer.event_name == "event1" and pointer.event_key == "key1"
    assert not pointer.active and not pointer.event_published

    event_id = host.publish_event("event1", "key1", {"hello": "world"})
    assert isinstance(event_id, str) and event_id
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.captured == {"hello": "world"}
    assert instance.data.received == ["done"]
    wait_pointer = instance.execution_pointers[1]
    assert wait_pointer.event_published and wait_pointer.event_data == {"hello": "world"}
    assert wait_pointer.status is PointerStatus.COMPLETE


def test_one_event_reaches_every_waiting_workflow(host: WorkflowHost) -> None:
    host.register_workflow(WaitWorkflow())
    host.start()
    ids = [host.start_workflow("WaitWorkflow", 1, None) for _ in range(5)]
    for wid in ids:
        wait_until_waiting(host, wid)
    host.publish_event("event1", "key1", "broadcast")
    for wid in ids:
        instance = host.wait_for_workflow(wid, timeout=WAIT)
        assert instance.status is WorkflowStatus.COMPLETE
        assert instance.data.captured == "broadcast"


def test_non_matching_key_or_name_is_not_delivered(host: WorkflowHost) -> None:
    host.register_workflow(WaitWorkflow())
    host.start()
    wid = host.start_workflow("WaitWorkflow", 1, None)
    wait_until_waiting(host, wid)
    host.publish_event("event1", "other-key", "wrong key")
    host.publish_event("event2", "key1", "wrong name")
    host.publish_event("nobody-listens", "x", 1)  # publishing to no one is not an error
    time.sleep(QUIET)
    instance = host.get_workflow_instance(wid)
    assert instance.status is WorkflowStatus.RUNNABLE
    assert instance.data.captured is None
    assert len(waiting_pointers(host, wid)) == 1
    host.publish_event("event1", "key1", "right")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.data.captured == "right"


def test_event_key_is_compared_as_string(host: WorkflowHost) -> None:
    host.register_workflow(WaitWorkflow())
    host.start()
    data = Data()
    data.key = 42  # type: ignore[assignment]
    wid = host.start_workflow("WaitWorkflow", 1, data)
    wait_until_waiting(host, wid)
    host.publish_event("event1", 42, "int key")
    assert host.wait_for_workflow(wid, timeout=WAIT).data.captured == "int key"


# -- as-of semantics ----------------------------------------------------------------------------------
GATES: dict[str, threading.Event] = {}


def gate(context: StepExecutionContext) -> ExecutionResult:
    """Sleeps in short naps until the test opens the gate named by the workflow's reference."""
    if GATES[context.workflow.reference or ""].is_set():
        return ExecutionResult.next()
    return ExecutionResult.sleep(timedelta(milliseconds=20))


def open_gate_later(name: str) -> threading.Event:
    GATES[name] = threading.Event()
    return GATES[name]


class LateWaitDefault(Workflow):
    """Waits only once the gate opens, as of the default: when its pointer was created."""

    data_type = Data
    #: When the wait accepts events from (None: the default).
    effective_date: Callable[[Any, Any], datetime] | None = None

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(gate)
            .wait_for("late", lambda data, context: "k", effective_date=self.effective_date)
            .output("captured", lambda step: step.event_data)
        )


class LateWaitSinceStart(LateWaitDefault):
    """Waits only once the gate opens, but accepts events published since the workflow started."""

    effective_date = staticmethod(lambda d, c: c.workflow.create_time)


def start_behind_gate(host: WorkflowHost, workflow: Workflow, early: Any) -> str:
    """Starts ``workflow`` behind a closed gate, publishes ("late", "k", ``early``), then opens the gate."""
    host.register_workflow(workflow)
    host.start()
    opened = open_gate_later(workflow.id())
    wid = host.start_workflow(workflow.id(), 1, None, reference=workflow.id())
    host.publish_event("late", "k", early)
    time.sleep(0.05)
    opened.set()
    return wid


def test_event_published_before_the_wait_is_not_delivered_by_default(host: WorkflowHost) -> None:
    wid = start_behind_gate(host, LateWaitDefault(), "too early")
    wait_until_waiting(host, wid)
    time.sleep(QUIET)
    instance = host.get_workflow_instance(wid)
    assert instance.status is WorkflowStatus.RUNNABLE
    assert instance.data.captured is None
    host.publish_event("late", "k", "in time")
    assert host.wait_for_workflow(wid, timeout=WAIT).data.captured == "in time"


def test_event_published_before_the_wait_is_delivered_since_workflow_start(host: WorkflowHost) -> None:
    wid = start_behind_gate(host, LateWaitSinceStart(), "kept for later")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.captured == "kept for later"


class SinceStart(Workflow):
    data_type = Data

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("late", lambda data, context: "k", effective_date=lambda d, c: c.workflow.create_time)
            .output("captured", lambda step: step.event_data)
        )


@pytest.mark.host_options(persist_retry_timeout=0.1, event_recheck_delay=0.5)
def test_an_event_taken_before_the_wait_reaches_it_though_the_pull_after_subscribing_failed(
    host: WorkflowHost,
) -> None:
    """Published and marked processed before anyone waited, the event reaches the wait only by a pull. The
    one made right after the subscription was stored fails (the store's reads of events are down past
    ``persist_retry_timeout``); once they answer again, the recheck delivers it."""
    persistence = host.persistence
    reads = persistence.get_events
    down = threading.Event()
    down.set()
    refused: list[str] = []

    def get_events(name: str, key: str, since: datetime, until: datetime) -> list[Event]:
        if down.is_set():
            refused.append(name)
            raise ProviderError("get_events failed: connection refused (simulated)")
        return reads(name, key, since, until)

    persistence.get_events = get_events  # type: ignore[method-assign]
    host.register_workflow(SinceStart())
    wid = host.start_workflow("SinceStart", 1, None)
    persistence.mark_event_processed(host.publish_event("late", "k", "taken early"))
    host.start()
    wait_until(lambda: len(refused) >= 2 and waiting_pointers(host, wid) and not host.runtime.in_progress.ids())
    assert host.get_workflow_instance(wid).data.captured is None
    down.clear()
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.captured == "taken early"


def test_event_effective_before_the_subscription_is_not_delivered(host: WorkflowHost) -> None:
    """An event whose effective date is before the subscription's as-of time does not match it,
    even though it is published while the workflow waits."""
    host.register_workflow(WaitWorkflow())
    host.start()
    wid = host.start_workflow("WaitWorkflow", 1, None)
    wait_until_waiting(host, wid)
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    host.publish_event("event1", "key1", "stale", effective_date=an_hour_ago)
    time.sleep(QUIET)
    assert host.get_workflow_instance(wid).data.captured is None
    host.publish_event("event1", "key1", "fresh")
    assert host.wait_for_workflow(wid, timeout=WAIT).data.captured == "fresh"


class TwoWaits(Workflow):
    """Waits twice, both times accepting events effective since a minute before the start."""

    data_type = Data

    def build(self, builder: WorkflowBuilder) -> None:
        since = lambda d, c: c.workflow.create_time - timedelta(minutes=1)  # noqa: E731
        (
            builder.start_with(gate)
            .wait_for("ordered", lambda data, context: "k", effective_date=since)
            .output(lambda step, data: data.received.append(step.event_data))
            .wait_for("ordered", lambda data, context: "k", effective_date=since)
            .output(lambda step, data: data.received.append(step.event_data))
        )


def test_oldest_event_first(host: WorkflowHost) -> None:
    host.register_workflow(TwoWaits())
    host.start()
    opened = open_gate_later("ordered")
    wid = host.start_workflow("TwoWaits", 1, None, reference="ordered")
    now = datetime.now(timezone.utc)
    # published newest first; delivered by effective time, oldest first, each only once
    host.publish_event("ordered", "k", "second", effective_date=now - timedelta(seconds=10))
    host.publish_event("ordered", "k", "first", effective_date=now - timedelta(seconds=20))
    time.sleep(0.05)
    opened.set()
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.received == ["first", "second"]


class WaitLoop(Workflow):
    """A loop that waits again: it never receives the event it already consumed."""

    data_type = Data
    #: When each wait accepts events from (None: the default).
    effective_date: Callable[[Any, Any], datetime] | None = None

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .while_(lambda data, context: data.rounds < 2)
            .do(
                lambda b: (
                    b.start_with(lambda context: None)
                    .wait_for("tick", lambda data, context: "k", effective_date=self.effective_date)
                    .output(lambda step, data: data.received.append(step.event_data))
                    .then(lambda context: setattr(context.workflow.data, "rounds", context.workflow.data.rounds + 1))
                )
            )
        )


class WaitLoopSinceStart(WaitLoop):
    """A loop that waits again, accepting events since the workflow started: each event once."""

    effective_date = staticmethod(lambda d, c: c.workflow.create_time)


@pytest.mark.parametrize("workflow", [WaitLoop(), WaitLoopSinceStart()], ids=["default", "since_start"])
def test_loop_waiting_again_receives_each_event_once(host: WorkflowHost, workflow: Workflow) -> None:
    """Waiting again in a loop never delivers the event already consumed, as of the default or since
    the workflow started."""
    host.register_workflow(workflow)
    host.start()
    wid = host.start_workflow(workflow.id(), 1, None)
    wait_until_waiting(host, wid)
    host.publish_event("tick", "k", "one")
    wait_until(lambda: host.get_workflow_instance(wid).data.rounds == 1 and waiting_pointers(host, wid))
    time.sleep(QUIET)
    instance = host.get_workflow_instance(wid)
    assert instance.status is WorkflowStatus.RUNNABLE
    assert instance.data.received == ["one"]
    host.publish_event("tick", "k", "two")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.received == ["one", "two"]


class ParallelWaits(Workflow):
    """Parallel branches of one workflow wait for the same event side by side."""

    data_type = Data

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .for_each(lambda data, context: ["a", "b", "c"])
            .do(
                lambda x: (
                    x.start_with(lambda context: None)
                    .wait_for("together", lambda data, context: "k")
                    .output(lambda step, data: data.received.append(step.event_data))
                )
            )
        )


def test_one_event_reaches_every_waiting_branch_of_a_workflow(host: WorkflowHost) -> None:
    host.register_workflow(ParallelWaits())
    host.start()
    wid = host.start_workflow("ParallelWaits", 1, None)
    wait_until_waiting(host, wid, count=3)
    host.publish_event("together", "k", "all of you")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.received == ["all of you"] * 3
