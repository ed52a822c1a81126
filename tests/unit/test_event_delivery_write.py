"""An event that wakes a workflow is stored with the woken workflow's next pass, in one write; when no pass
can take it (every concurrency slot of its key taken), it is stored on its own; when that write is refused
(the lock lapsed), nothing is lost: the event stays unprocessed and is delivered again."""

from __future__ import annotations

import threading
from typing import Any

from event_waits import waits_for_event
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.errors import ConcurrencyError
from liteflow.core.models import WorkflowInstance, utcnow
from liteflow.providers.memory import MemoryPersistenceProvider

WAIT = 10.0


class RecordingPersistence(MemoryPersistenceProvider):
    """Records, for every write that ends subscriptions, which pointers had ended then; can refuse the
    first such write (as a store does for a holder whose lock lapsed)."""

    def __init__(self, refuse_first_delivery: bool = False) -> None:
        super().__init__()
        self.deliveries: list[tuple[list[str], list[str]]] = []  # (ended subscriptions, ended step names)
        self.refuse = refuse_first_delivery

    def persist_workflow(self, instance: WorkflowInstance, *args: Any, **kwargs: Any) -> None:
        ended = kwargs.get("ended_subscriptions") or (args[1] if len(args) > 1 else None) or []
        if ended:
            if self.refuse:
                self.refuse = False
                raise ConcurrencyError(f"{instance.id}: refused (simulated lapsed lock)")
            steps = [p.step_name or "" for p in instance.execution_pointers if p.end_time is not None]
            self.deliveries.append((list(ended), steps))
        super().persist_workflow(instance, *args, **kwargs)


class Gate:
    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()


GATE = Gate()


def held_at_gate(context: Any) -> None:
    GATE.entered.set()
    assert GATE.open.wait(WAIT)


class WaitsThenFinishes(Workflow):
    def id(self) -> str:
        return "WaitsThenFinishes"

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .name("first")
            .wait_for("go", lambda data, context: data["key"])
            .name("wait")
            .output("got", lambda step: step.event_data)
            .then(lambda context: None)
            .name("last")
        )


class OneAtATime(Workflow):
    """Waits for an event (or, with ``hold``, blocks at the gate); one instance per customer at a time."""

    concurrency_key = staticmethod(lambda data: "c1")
    max_concurrency = 1

    def id(self) -> str:
        return "OneAtATime"

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .if_(lambda data: data.get("hold", False))
            .do(lambda then: then.start_with(held_at_gate))
            .then(lambda context: None)
            .if_(lambda data: not data.get("hold", False))
            .do(lambda then: then.start_with(lambda context: None).wait_for("go", lambda data, context: data["key"]))
        )


def test_the_delivery_is_stored_with_the_woken_workflows_pass() -> None:
    persistence = RecordingPersistence()
    host = configure_workflow_host(persistence, poll_interval=0.2)
    host.register_workflow(WaitsThenFinishes())
    with host:
        workflow_id = host.start_workflow("WaitsThenFinishes", data={"key": "k1"})
        wait_until(lambda: waits_for_event(host, workflow_id))
        event_id = host.publish_event("go", "k1", {"n": 1})
        done = host.wait_for_workflow(workflow_id, timeout=WAIT)
    assert done.status is WorkflowStatus.COMPLETE and done.data["got"] == {"n": 1}
    # one write ended the subscription, and it already holds the pass that ran the waiting step
    assert len(persistence.deliveries) == 1
    ended, steps = persistence.deliveries[0]
    assert len(ended) == 1 and "wait" in steps
    assert persistence.get_event(event_id).is_processed
    assert persistence.get_runnable_events(utcnow()) == []


def test_a_delivery_no_pass_can_take_is_stored_on_its_own() -> None:
    global GATE
    GATE = Gate()
    persistence = RecordingPersistence()
    host = configure_workflow_host(persistence, poll_interval=0.2, max_concurrent_workflows=4)
    host.register_workflow(OneAtATime())
    with host:
        waiter = host.start_workflow("OneAtATime", data={"key": "k2"})
        wait_until(lambda: waits_for_event(host, waiter))
        holder = host.start_workflow("OneAtATime", data={"hold": True})
        assert GATE.entered.wait(WAIT)  # the key's only slot is taken
        try:
            event_id = host.publish_event("go", "k2", "x")
            wait_until(lambda: persistence.get_event(event_id).is_processed)
            stored = host.get_workflow_instance(waiter)
            assert stored.status is WorkflowStatus.RUNNABLE  # delivered and stored, not run yet
            assert any(p.event_id == event_id and p.event_published for p in stored.execution_pointers)
            assert len(persistence.deliveries) == 1 and "wait" not in " ".join(persistence.deliveries[0][1])
        finally:
            GATE.open.set()
        assert host.wait_for_workflow(holder, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert host.wait_for_workflow(waiter, timeout=WAIT).status is WorkflowStatus.COMPLETE


def test_a_refused_delivery_is_not_lost() -> None:
    persistence = RecordingPersistence(refuse_first_delivery=True)
    host = configure_workflow_host(persistence, poll_interval=0.2, event_retry_delay=0.01)
    host.register_workflow(WaitsThenFinishes())
    with host:
        workflow_id = host.start_workflow("WaitsThenFinishes", data={"key": "k3"})
        wait_until(lambda: waits_for_event(host, workflow_id))
        event_id = host.publish_event("go", "k3", {"n": 3})
        done = host.wait_for_workflow(workflow_id, timeout=WAIT)
        wait_until(lambda: persistence.get_event(event_id).is_processed)
    assert persistence.refuse is False  # the first delivery was refused
    assert done.status is WorkflowStatus.COMPLETE and done.data["got"] == {"n": 3}
    assert len(persistence.deliveries) == 1  # delivered again, once, and stored


class HoldsTheSlot(Workflow):
    def id(self) -> str:
        return "HoldsTheSlot"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(held_at_gate)


def test_without_a_free_workflow_slot_the_delivery_is_stored_and_the_workflow_queued() -> None:
    global GATE
    GATE = Gate()
    persistence = RecordingPersistence()
    host = configure_workflow_host(persistence, poll_interval=0.2, max_concurrent_workflows=1)
    host.register_workflow(WaitsThenFinishes())
    host.register_workflow(HoldsTheSlot())
    with host:
        waiter = host.start_workflow("WaitsThenFinishes", data={"key": "k4"})
        wait_until(lambda: waits_for_event(host, waiter))
        holder = host.start_workflow("HoldsTheSlot")
        assert GATE.entered.wait(WAIT)  # the host's only workflow slot is taken
        try:
            event_id = host.publish_event("go", "k4", "y")
            wait_until(lambda: persistence.get_event(event_id).is_processed)
            stored = host.get_workflow_instance(waiter)
            assert stored.status is WorkflowStatus.RUNNABLE
            assert any(p.event_id == event_id and p.event_published for p in stored.execution_pointers)
            assert len(persistence.deliveries) == 1 and "wait" not in persistence.deliveries[0][1]
        finally:
            GATE.open.set()
        assert host.wait_for_workflow(holder, timeout=WAIT).status is WorkflowStatus.COMPLETE
        done = host.wait_for_workflow(waiter, timeout=WAIT)
    assert done.status is WorkflowStatus.COMPLETE and done.data["got"] == "y"
