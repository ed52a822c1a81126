"""End-to-end host behaviour: suspend/resume/terminate, `with host:`, restart, client hosts,
fresh providers per host, naive datetimes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from support import LOG, QUIET, WAIT, is_waiting, make_host, record, step, wait_until

from liteflow.core import *
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider


class EventWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(step("hello")).wait_for("go", lambda data, context: "k").then(step("goodbye"))


class DelayWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(step("hello"))
            .delay(lambda data, context: timedelta(milliseconds=150))
            .then(step("goodbye"))
        )


class Simple(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(step("hello")).then(step("goodbye"))


def start_waiting(host: WorkflowHost) -> str:
    """Registers EventWorkflow, starts ``host`` and an instance; returns its id once it waits for "go"."""
    host.register_workflow(EventWorkflow())
    host.start()
    wid = host.start_workflow("EventWorkflow")
    wait_until(lambda: is_waiting(host, wid))
    return wid


# -- suspend / resume / terminate ---------------------------------------------------------------------
def test_suspended_workflow_does_not_advance_until_resumed(host: WorkflowHost) -> None:
    wid = start_waiting(host)
    assert host.suspend_workflow(wid) is True
    assert host.suspend_workflow(wid) is False  # already suspended
    assert host.get_workflow_instance(wid).status is WorkflowStatus.SUSPENDED
    assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.SUSPENDED

    host.publish_event("go", "k")  # delivered, but the suspended workflow must not run on
    time.sleep(QUIET)
    assert LOG == ["hello"]
    assert host.get_workflow_instance(wid).status is WorkflowStatus.SUSPENDED

    assert host.resume_workflow(wid) is True
    assert host.resume_workflow(wid) is False  # no longer suspended
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"]
    # a completed workflow cannot be suspended, resumed or terminated
    assert host.suspend_workflow(wid) is False
    assert host.resume_workflow(wid) is False
    assert host.terminate_workflow(wid) is False


def test_suspended_sleeping_workflow_waits_past_its_wakeup(host: WorkflowHost) -> None:
    host.register_workflow(DelayWorkflow())
    host.start()
    wid = host.start_workflow("DelayWorkflow")
    wait_until(lambda: LOG == ["hello"])
    assert host.suspend_workflow(wid) is True
    time.sleep(QUIET + 0.15)  # well past the delay
    assert LOG == ["hello"]
    assert host.resume_workflow(wid) is True
    assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"]


def test_terminate_a_waiting_workflow(host: WorkflowHost) -> None:
    wid = start_waiting(host)
    assert host.terminate_workflow(wid) is True
    assert host.terminate_workflow(wid) is False
    assert host.resume_workflow(wid) is False
    assert host.suspend_workflow(wid) is False
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.complete_time is not None
    host.publish_event("go", "k")
    time.sleep(QUIET)
    assert host.get_workflow_instance(wid).status is WorkflowStatus.TERMINATED
    assert LOG == ["hello"]


def test_terminate_a_suspended_workflow(host: WorkflowHost) -> None:
    wid = start_waiting(host)
    assert host.suspend_workflow(wid)
    assert host.terminate_workflow(wid) is True
    assert host.get_workflow_instance(wid).status is WorkflowStatus.TERMINATED


# -- host lifecycle -----------------------------------------------------------------------------------
def test_with_host_starts_and_stops() -> None:
    host = make_host()
    host.register_workflow(Simple())
    with host as running:
        assert running is host
        wid = host.start_workflow("Simple")
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"]
    # stopped: new work is not executed
    wid2 = host.start_workflow("Simple")
    time.sleep(QUIET)
    assert host.get_workflow_instance(wid2).status is WorkflowStatus.RUNNABLE
    assert LOG == ["hello", "goodbye"]
    # ... until it is started again
    with host:
        assert host.wait_for_workflow(wid2, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert LOG == ["hello", "goodbye"] * 2


def test_stopped_host_can_be_started_again_and_finishes_work(host: WorkflowHost) -> None:
    host.register_workflow(EventWorkflow())
    host.register_workflow(DelayWorkflow())
    host.start()
    waiting = host.start_workflow("EventWorkflow")
    wait_until(lambda: is_waiting(host, waiting))
    sleeping = host.start_workflow("DelayWorkflow")
    wait_until(lambda: LOG.count("hello") == 2)
    host.stop()
    host.stop()  # idempotent
    host.publish_event("go", "k")
    time.sleep(QUIET)
    assert "goodbye" not in LOG
    host.start()
    host.start()  # idempotent
    assert host.wait_for_workflow(waiting, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert host.wait_for_workflow(sleeping, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert sorted(LOG) == ["goodbye", "goodbye", "hello", "hello"]


def test_never_started_host_is_a_client() -> None:
    persistence, queue, lock = MemoryPersistenceProvider(), MemoryQueueProvider(), MemoryLockProvider()
    client = configure_workflow_host(persistence, queue, lock, poll_interval=0.1)
    worker = configure_workflow_host(persistence, queue, lock, poll_interval=0.1)
    for h in (client, worker):
        h.register_workflow(EventWorkflow())
    worker.start()
    try:
        wid = client.start_workflow("EventWorkflow")
        wait_until(lambda: is_waiting(client, wid))
        assert LOG == ["hello"]
        client.publish_event("go", "k")
        instance = client.wait_for_workflow(wid, timeout=WAIT)
        assert instance.status is WorkflowStatus.COMPLETE
        assert LOG == ["hello", "goodbye"]
        assert worker.get_workflow_instance(wid).status is WorkflowStatus.COMPLETE
        # control from the client
        wid2 = client.start_workflow("EventWorkflow")
        wait_until(lambda: is_waiting(client, wid2))
        assert client.terminate_workflow(wid2) is True
        assert worker.get_workflow_instance(wid2).status is WorkflowStatus.TERMINATED
    finally:
        worker.stop()
        client.stop()  # stopping a never-started host is harmless


def test_client_only_host_executes_nothing() -> None:
    client = make_host()
    client.register_workflow(Simple())
    wid = client.start_workflow("Simple")
    time.sleep(QUIET)
    assert client.get_workflow_instance(wid).status is WorkflowStatus.RUNNABLE
    assert LOG == []
    with pytest.raises(TimeoutError):
        client.wait_for_workflow(wid, timeout=0.1)


def test_each_configured_host_has_fresh_providers() -> None:
    one, two = make_host(), make_host()
    assert one.persistence is not two.persistence
    assert one.queue is not two.queue
    assert one.lock is not two.lock
    for h in (one, two):
        h.register_workflow(Simple())
    wid = one.start_workflow("Simple")
    with pytest.raises(WorkflowNotFoundError):
        two.get_workflow_instance(wid)
    two.start()
    try:
        time.sleep(QUIET)
        assert one.get_workflow_instance(wid).status is WorkflowStatus.RUNNABLE
    finally:
        two.stop()


def test_wait_for_workflow_times_out(host: WorkflowHost) -> None:
    host.register_workflow(EventWorkflow())
    host.start()
    wid = host.start_workflow("EventWorkflow")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        host.wait_for_workflow(wid, timeout=0.2)
    assert time.monotonic() - started < 1.5


# -- times --------------------------------------------------------------------------------------------
class NaiveAsOf(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(step("hello"))
            .wait_for(
                "naive",
                lambda data, context: "k",
                # naive UTC: ten minutes ago
                effective_date=lambda data, context: (
                    datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=10)
                ),
            )
            .output(lambda s, data: data.append(s.event_data))
        )


@pytest.fixture
def far_timezone() -> Iterator[None]:
    """Run with a local time far from UTC, so a naive datetime taken as local time would show."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available")
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    yield
    mp.undo()
    time.tzset()


def test_naive_datetimes_are_taken_as_utc(host: WorkflowHost, far_timezone: None) -> None:
    host.register_workflow(NaiveAsOf())
    host.start()
    wid = host.start_workflow("NaiveAsOf", 1, [])
    instance = host.get_workflow_instance(wid)
    assert instance.create_time.tzinfo is not None and instance.create_time.utcoffset() == timedelta(0)
    wait_until(lambda: is_waiting(host, wid))
    naive_five_minutes_ago = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
    event_id = host.publish_event("naive", "k", "as of five minutes ago", effective_date=naive_five_minutes_ago)
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == ["as of five minutes ago"]
    event = host.persistence.get_event(event_id)
    assert event.event_time == naive_five_minutes_ago.replace(tzinfo=timezone.utc)
    for p in instance.execution_pointers:
        for t in (p.start_time, p.end_time):
            assert t is not None and t.utcoffset() == timedelta(0)
    assert instance.complete_time is not None and instance.complete_time.utcoffset() == timedelta(0)


# -- no busy waiting, no lost work --------------------------------------------------------------------
def test_work_is_picked_up_without_waiting_for_the_poller() -> None:
    """A long poll interval does not slow anything down: queues block, sleepers have timers."""
    host = configure_workflow_host(poll_interval=30)
    host.register_workflow(Simple())
    host.register_workflow(DelayWorkflow())
    host.register_workflow(EventWorkflow())
    with host:
        started = time.monotonic()
        wid = host.start_workflow("Simple")
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert time.monotonic() - started < 2  # the poll interval is 30 s
        started = time.monotonic()
        wid = host.start_workflow("DelayWorkflow")  # sleeps 150 ms
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert 0.15 <= time.monotonic() - started < 2
        wid = host.start_workflow("EventWorkflow")
        wait_until(lambda: is_waiting(host, wid))
        started = time.monotonic()
        host.publish_event("go", "k")
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert time.monotonic() - started < 2
        started = time.monotonic()
    assert time.monotonic() - started < 2  # stop() is prompt


def test_event_effective_in_the_future_is_delivered_when_due() -> None:
    host = configure_workflow_host(poll_interval=30)
    host.register_workflow(EventWorkflow())
    with host:
        wid = host.start_workflow("EventWorkflow")
        wait_until(lambda: is_waiting(host, wid))
        started = time.monotonic()
        host.publish_event("go", "k", effective_date=datetime.now(timezone.utc) + timedelta(milliseconds=300))
        time.sleep(0.1)
        assert LOG == ["hello"]
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert 0.3 <= time.monotonic() - started < 2


SLOW_STARTED = threading.Event()


def slow_step(context: StepExecutionContext) -> None:
    SLOW_STARTED.set()
    time.sleep(0.3)
    record("slow")


class SlowWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(slow_step).then(step("after"))


def test_stop_during_a_step_loses_nothing() -> None:
    SLOW_STARTED.clear()
    host = make_host()
    host.register_workflow(SlowWorkflow())
    host.start()
    try:
        wid = host.start_workflow("SlowWorkflow")
        assert SLOW_STARTED.wait(WAIT)
        host.stop()  # the in-flight step finishes
        assert LOG.count("slow") == 1
        host.start()
        assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert LOG == ["slow", "after"]
    finally:
        host.stop()


def test_hosts_sharing_providers_run_each_step_once() -> None:
    persistence, queue, lock = MemoryPersistenceProvider(), MemoryQueueProvider(), MemoryLockProvider()
    hosts = [configure_workflow_host(persistence, queue, lock, poll_interval=0.05) for _ in range(3)]
    for h in hosts:
        h.register_workflow(DelayWorkflow())
        h.start()
    try:
        ids = [hosts[i % 3].start_workflow("DelayWorkflow") for i in range(15)]
        for wid in ids:
            assert hosts[0].wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
        assert LOG.count("hello") == 15 and LOG.count("goodbye") == 15
    finally:
        for h in hosts:
            h.stop()


@pytest.mark.parametrize("action", ["suspend", "terminate"])
def test_status_change_while_a_step_runs_lands_when_it_returns(action: str) -> None:
    SLOW_STARTED.clear()
    host = make_host()
    host.register_workflow(SlowWorkflow())
    with host:
        wid = host.start_workflow("SlowWorkflow")
        assert SLOW_STARTED.wait(WAIT)
        assert getattr(host, f"{action}_workflow")(wid) is True
        wait_until(lambda: "slow" in LOG)
        time.sleep(QUIET)
        instance = host.get_workflow_instance(wid)
        assert LOG == ["slow"]  # the running step finished, the next one did not start
        first, second = instance.execution_pointers
        assert first.status is PointerStatus.COMPLETE and second.start_time is None
        if action == "suspend":
            assert instance.status is WorkflowStatus.SUSPENDED
            assert host.resume_workflow(wid)
            assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
            assert LOG == ["slow", "after"]
        else:
            assert instance.status is WorkflowStatus.TERMINATED
