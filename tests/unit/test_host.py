"""WorkflowHost and configure_workflow_host: options, providers, registry, what start_workflow stores."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core.services.options import parse_options
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider


class A(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.next()


class Data:
    def __init__(self) -> None:
        self.n = 1


class WithType(Workflow):
    data_type = Data

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(A)


class V1(Workflow):
    def id(self) -> str:
        return "Versioned"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(A)


class V3(V1):
    def version(self) -> int:
        return 3


# -- options ------------------------------------------------------------------------------------------
def test_default_options() -> None:
    options = configure_workflow_host().options
    assert options.poll_interval == 1.0
    assert options.retry_interval == timedelta(seconds=60)
    assert options.max_concurrent_workflows >= 1


def test_options_are_applied() -> None:
    host = configure_workflow_host(poll_interval=0.25, retry_interval=timedelta(seconds=3), max_concurrent_workflows=2)
    assert host.options.poll_interval == 0.25
    assert host.options.retry_interval == timedelta(seconds=3)
    assert host.options.max_concurrent_workflows == 2
    assert configure_workflow_host(retry_interval=1.5).options.retry_interval == timedelta(seconds=1.5)


def test_unknown_option_names_it() -> None:
    with pytest.raises(TypeError, match="bogus") as info:
        configure_workflow_host(bogus=1)
    assert "poll_interval" in str(info.value)  # and lists the known ones
    with pytest.raises(TypeError, match="bogus"):
        parse_options({"bogus": 1})


def test_invalid_option_value() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        configure_workflow_host(poll_interval=-1)


def test_provider_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError, match="persistence"):
        configure_workflow_host(persistence=object())  # type: ignore[arg-type]


def test_given_providers_are_used_and_defaults_are_fresh() -> None:
    persistence, queue, lock = MemoryPersistenceProvider(), MemoryQueueProvider(), MemoryLockProvider()
    host = configure_workflow_host(persistence, queue, lock)
    assert (host.persistence, host.queue, host.lock) == (persistence, queue, lock)
    one, two = configure_workflow_host(), configure_workflow_host()
    assert one.persistence is not two.persistence and one.queue is not two.queue and one.lock is not two.lock
    assert isinstance(one.persistence, PersistenceProvider)
    assert isinstance(one.queue, QueueProvider)
    assert isinstance(one.lock, LockProvider)


# -- registry and start_workflow ----------------------------------------------------------------------
def test_register_returns_the_definition() -> None:
    host = configure_workflow_host()
    definition = host.register_workflow(WithType())
    assert isinstance(definition, WorkflowDefinition)
    assert definition.id == "WithType" and definition.version == 1 and definition.data_type is Data


def test_start_workflow_stores_a_runnable_instance() -> None:
    host = configure_workflow_host()
    host.register_workflow(WithType())
    wid = host.start_workflow("WithType", 1, None, reference=123)  # type: ignore[arg-type]
    instance = host.get_workflow_instance(wid)
    assert instance.id == wid
    assert instance.status is WorkflowStatus.RUNNABLE
    assert instance.workflow_definition_id == "WithType" and instance.version == 1
    assert isinstance(instance.data, Data) and instance.data.n == 1
    assert instance.reference == "123"
    assert instance.create_time.utcoffset() == timedelta(0)
    assert instance.complete_time is None
    (pointer,) = instance.execution_pointers
    assert pointer.step_id == 0 and pointer.active and pointer.status is PointerStatus.PENDING


def test_get_workflow_instance_is_a_snapshot() -> None:
    host = configure_workflow_host()
    host.register_workflow(WithType())
    wid = host.start_workflow("WithType")
    snapshot = host.get_workflow_instance(wid)
    snapshot.status = WorkflowStatus.COMPLETE
    snapshot.data.n = 99
    fresh = host.get_workflow_instance(wid)
    assert fresh.status is WorkflowStatus.RUNNABLE and fresh.data.n == 1


def test_version_none_is_the_latest() -> None:
    host = configure_workflow_host()
    host.register_workflow(V3())
    host.register_workflow(V1())
    assert host.get_workflow_instance(host.start_workflow("Versioned")).version == 3
    assert host.get_workflow_instance(host.start_workflow("Versioned", 1)).version == 1
    with pytest.raises(WorkflowNotRegisteredError, match=r"Versioned.*2"):
        host.start_workflow("Versioned", 2)


def test_publish_event_returns_an_id_even_without_subscribers() -> None:
    host = configure_workflow_host()
    first = host.publish_event("nobody", "k", 1)
    second = host.publish_event("nobody", "k", 2)
    assert first and second and first != second


# -- lifecycle ----------------------------------------------------------------------------------------
def test_start_and_stop_are_idempotent() -> None:
    host = configure_workflow_host(poll_interval=0.1)
    assert not host.is_running
    host.stop()
    host.start()
    host.start()
    assert host.is_running
    started = time.monotonic()
    host.stop()
    assert time.monotonic() - started < 2
    assert not host.is_running
    host.stop()


def test_lifecycle_events() -> None:
    seen: list[Any] = []
    host = configure_workflow_host(poll_interval=0.1)
    host.on_lifecycle_event(seen.append)
    host.on_lifecycle_event(lambda event: 1 / 0)  # a failing callback changes nothing
    host.register_workflow(WithType())
    with host:
        wid = host.start_workflow("WithType", reference="r")
        assert host.wait_for_workflow(wid, timeout=5).status is WorkflowStatus.COMPLETE
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "WorkflowStarted" and kinds[-1] == "WorkflowCompleted"
    assert "StepStarted" in kinds and "StepCompleted" in kinds
    for event in seen:
        assert event.workflow_instance_id == wid and event.workflow_definition_id == "WithType"
        assert event.version == 1 and event.reference == "r" and event.event_time is not None


def test_lifecycle_callbacks_can_take_only_some_event_types() -> None:
    from liteflow.core import StepCompleted, WorkflowCompleted, WorkflowStarted

    class Two(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None).then(lambda context: None)

    host = configure_workflow_host()
    host.register_workflow(Two())
    only_ends: list[object] = []
    steps: list[object] = []
    host.on_lifecycle_event(only_ends.append, WorkflowCompleted, WorkflowStarted)
    assert host.executor.wants_step_events() is False  # nobody takes step events: none are made
    with host:
        host.wait_for_workflow(host.start_workflow("Two"), timeout=5)
        host.on_lifecycle_event(steps.append, StepCompleted)
        assert host.executor.wants_step_events() is True
        host.wait_for_workflow(host.start_workflow("Two"), timeout=5)
    assert [type(e).__name__ for e in only_ends] == ["WorkflowStarted", "WorkflowCompleted"] * 2
    assert [type(e).__name__ for e in steps] == ["StepCompleted", "StepCompleted"]


def test_suspend_and_terminate_land_on_a_workflow_that_never_stops_running() -> None:
    """A tight loop persists after every step and would win every compare-and-set: the worker running
    it applies the change between two steps instead."""

    class Spin(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None).while_(lambda data, context: True).do(
                lambda b: b.start_with(lambda context: None)
            )

    host = configure_workflow_host()
    host.register_workflow(Spin())
    with host:
        workflow_id = host.start_workflow("Spin")
        assert host.suspend_workflow(workflow_id) is True
        assert host.wait_for_workflow(workflow_id, timeout=5).status is WorkflowStatus.SUSPENDED
        assert host.resume_workflow(workflow_id) is True
        assert host.terminate_workflow(workflow_id) is True
        assert host.wait_for_workflow(workflow_id, timeout=5).status is WorkflowStatus.TERMINATED


def test_purge_events_on_the_host_keeps_events_not_yet_delivered() -> None:
    from datetime import timedelta

    from liteflow.core.models import utcnow

    class Waits(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None).wait_for(
                "go", lambda data, context: "k", lambda data, context: context.workflow.create_time
            )

    host = configure_workflow_host()
    host.register_workflow(Waits())
    with host:
        workflow_id = host.start_workflow("Waits")
        delivered = host.publish_event("go", "k", 1)
        host.wait_for_workflow(workflow_id, timeout=5)
        deadline = time.monotonic() + 5
        while not host.persistence.get_event(delivered).is_processed:  # marked right after delivery
            assert time.monotonic() < deadline
            time.sleep(0.01)
        pending = host.publish_event("go", "other-key", 2, effective_date=utcnow() + timedelta(hours=1))
        assert host.purge_events(utcnow() + timedelta(days=1)) == 1  # the delivered one
    assert host.persistence.get_event(pending).is_processed is False


class Waits(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(A).wait_for("go", lambda data, context: "k")


#: The threads a host makes for itself (providers may have their own, such as a lock's lease renewer).
_HOST_THREADS = (
    "liteflow-workflow",
    "liteflow-event",
    "liteflow-poller",
    "liteflow-scheduler",
    "liteflow-asyncio",
    "liteflow-control",
    "liteflow-schedules",
    "liteflow-retention",
)


def _host_threads() -> set[Any]:
    import threading

    return {t for t in threading.enumerate() if t.name.startswith(_HOST_THREADS)}


def test_a_client_host_does_everything_but_execute_without_a_thread_of_its_own() -> None:
    before = _host_threads()
    client = configure_workflow_host()
    client.register_workflow(Waits())
    workflow_id = client.start_workflow("Waits")
    client.publish_event("go", "k")
    assert client.get_workflow_instance(workflow_id).status is WorkflowStatus.RUNNABLE
    assert [i.id for i in client.list_workflows()] == [workflow_id]
    assert client.count_workflows(status="RUNNABLE") == 1
    assert client.suspend_workflow(workflow_id) and client.resume_workflow(workflow_id)
    assert client.terminate_workflow(workflow_id)
    assert client.get_workflow_instance(workflow_id).status is WorkflowStatus.TERMINATED
    assert not client.is_running and client.processing_ids() == set()
    assert not _host_threads() - before
    client.close()


def test_options_set_before_start_are_the_ones_the_workers_run_with() -> None:
    """``liteflow worker --concurrency N`` sets ``host.options`` before ``start()``."""
    host = configure_workflow_host()
    host.options = host.options.model_copy(update={"max_concurrent_workflows": 7})
    host.start()
    try:
        names = {t.name for t in _host_threads()}
        assert {f"liteflow-workflow-{i}" for i in range(7)} <= names
        assert "liteflow-workflow-7" not in names
    finally:
        host.stop()
