"""The delivery an event makes to the workflow it wakes is stored with that workflow's next pass (see
``services.workflow_consumer.Delivery``); what happens when that pass goes wrong:

* the pass cannot be stored (a step left what no store takes): the delivery is stored on its own, so the
  step fails once, as a delivered step, and waits for its retry, and the event is processed once;
* the event worker's lock lapses meanwhile (the lock store away) and another worker of the host runs its
  own copy of the instance: that copy's write does not take the first one's delivery, so the event is
  not marked processed without having been delivered;
* while the woken pass runs the event is still unprocessed, and the poller queues it again: no other
  worker of the host starts the same step again, though the lock lapsed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from event_waits import waits_for_event
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider


class FlakyLocks(MemoryLockProvider):
    """Leases that cannot be renewed while ``outage`` is set (the lock store away): held locks lapse."""

    outage = False

    def _renew(self, holds: Sequence[tuple[str, str]]) -> list[bool]:
        if self.outage:
            raise ConnectionError("lock store unreachable (simulated)")
        return super()._renew(holds)


class Unstorable(Workflow):
    def id(self) -> str:
        return "Unstorable"

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("go", lambda data, context: data["key"])
            .name("wait")
            .output("bad", lambda step: {1, 2})  # a set: no store takes it
            .then(lambda context: None)
        )


def test_a_woken_pass_that_cannot_be_stored_fails_its_step_once() -> None:
    persistence = MemoryPersistenceProvider()
    host = configure_workflow_host(persistence, poll_interval=0.5, event_retry_delay=0.01)
    host.register_workflow(Unstorable())
    with host:
        workflow_id = host.start_workflow("Unstorable", data={"key": "k"})
        wait_until(lambda: waits_for_event(host, workflow_id))
        event_id = host.publish_event("go", "k", {"n": 1})
        wait_until(lambda: len(persistence.get_errors(workflow_id)) >= 1)
        time.sleep(1.5)  # an event delivered again would fail the step again within this time
        errors = persistence.get_errors(workflow_id)
        wait = next(p for p in host.get_workflow_instance(workflow_id).execution_pointers if p.step_name == "wait")
    assert len(errors) == 1  # its retry waits for the step's retry_interval (60 s by default)
    assert persistence.get_event(event_id).is_processed
    assert wait.event_published and wait.event_id == event_id and wait.retry_count == 1


class TwoBranches(Workflow):
    """One branch waits for the event (its output blocks at ``gate``), the other runs after 2 s."""

    gate = threading.Event()
    entered = threading.Event()
    other_done = threading.Event()

    def id(self) -> str:
        return "TwoBranches"

    def build(self, builder: WorkflowBuilder) -> None:
        def blocking_output(step: Any) -> Any:
            TwoBranches.entered.set()
            assert TwoBranches.gate.wait(20)
            return step.event_data

        (
            builder.start_with(lambda context: None)
            .parallel()
            .do(lambda b: b.wait_for("go", lambda d, c: d["key"]).name("wait").output("got", blocking_output))
            .do(lambda b: b.delay(lambda d: timedelta(seconds=2.0)).then(lambda c: TwoBranches.other_done.set()))
            .join()
            .then(lambda context: None)
        )


def test_a_delivery_is_not_taken_by_another_copy_of_the_instance_after_a_lapsed_lock() -> None:
    for flag in (TwoBranches.gate, TwoBranches.entered, TwoBranches.other_done):
        flag.clear()
    persistence = MemoryPersistenceProvider()
    locks = FlakyLocks(lease=0.6)
    host = configure_workflow_host(persistence, lock=locks, poll_interval=30)
    host.register_workflow(TwoBranches())
    with host:
        workflow_id = host.start_workflow("TwoBranches", data={"key": "k"})
        wait_until(lambda: waits_for_event(host, workflow_id))
        host.publish_event("go", "k", {"n": 1})
        assert TwoBranches.entered.wait(10)  # the woken pass runs; its delivery is not stored yet
        locks.outage = True  # the event worker's lease lapses
        TwoBranches.other_done.wait(5)  # a workflow worker took the lapsed lock and ran the other branch
        locks.outage = False
        TwoBranches.gate.set()
        done = host.wait_for_workflow(workflow_id, timeout=10)
    assert done.status is WorkflowStatus.COMPLETE and done.data["got"] == {"n": 1}


class SlowAfterEvent(Workflow):
    entries: list[float] = []
    gate = threading.Event()

    def id(self) -> str:
        return "SlowAfterEvent"

    def build(self, builder: WorkflowBuilder) -> None:
        def slow(step: Any) -> Any:
            SlowAfterEvent.entries.append(time.monotonic())
            SlowAfterEvent.gate.wait(20)
            return step.event_data

        builder.start_with(lambda c: None).wait_for("go", lambda d, c: "k").output("got", slow).then(lambda c: None)


def test_the_woken_step_is_not_started_again_while_it_runs_though_its_lock_lapsed() -> None:
    SlowAfterEvent.entries.clear()
    SlowAfterEvent.gate.clear()
    locks = FlakyLocks(lease=0.6)
    host = configure_workflow_host(MemoryPersistenceProvider(), lock=locks, poll_interval=0.2)
    host.register_workflow(SlowAfterEvent())
    with host:
        workflow_id = host.start_workflow("SlowAfterEvent", data={})
        wait_until(lambda: waits_for_event(host, workflow_id))
        host.publish_event("go", "k", 1)
        wait_until(lambda: SlowAfterEvent.entries)
        locks.outage = True
        time.sleep(2.5)  # the poller queues the unprocessed event again about 12 times meanwhile
        locks.outage = False
        SlowAfterEvent.gate.set()
        done = host.wait_for_workflow(workflow_id, timeout=10)
    assert done.status is WorkflowStatus.COMPLETE
    assert len(SlowAfterEvent.entries) == 1
