"""A child's end reaches its waiting parent even when the write or the queueing of the announcement
fails, or the child's host fails right after storing the child's end: the announcement is written before
the end is stored and delivered once it is, with what is stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from waiting import wait_until

from liteflow.core import Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import Event, WorkflowInstance, utcnow
from liteflow.core.primitives.sub_workflow import CHILD_COMPLETED_EVENT, CHILD_TERMINATED
from liteflow.providers.memory import MemoryPersistenceProvider, MemoryQueueProvider

WAIT = 15.0


class Child(Workflow):
    def id(self) -> str:
        return "Child"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).then(_set_answer)


def _set_answer(context: Any) -> None:
    context.workflow.data["answer"] = 42


class Parent(Workflow):
    def id(self) -> str:
        return "Parent"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).sub_workflow("Child", None, lambda d, c: {}).output(
            "child", lambda step: step.result
        ).then(lambda c: None)


class Faults:
    """What the persistence subclasses below fail, once or more."""

    def __init__(self) -> None:
        self.announcements = 0  # create_event of a child's announcement fails this many times
        self.after_end = False  # the write storing a child's end is stored, then its answer is lost
        self.failed = threading.Event()


def _faulty(base: type) -> type:
    class Faulty(base):  # type: ignore[misc, valid-type]
        faults = Faults()

        def create_event(self, event: Event) -> str:
            if event.event_name == CHILD_COMPLETED_EVENT and self.faults.announcements > 0:
                self.faults.announcements -= 1
                self.faults.failed.set()
                raise ProviderError("create_event failed: connection reset (simulated)")
            return str(super().create_event(event))

        def persist_workflow(self, instance: WorkflowInstance, *args: Any, **kwargs: Any) -> None:
            super().persist_workflow(instance, *args, **kwargs)
            ends = instance.parent_workflow_id and instance.status is WorkflowStatus.COMPLETE
            if ends and self.faults.after_end and not self.faults.failed.is_set():
                self.faults.failed.set()
                raise ProviderError("persist_workflow: connection lost after the write (simulated)")

    return Faulty


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def persistence(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        provider = _faulty(MemoryPersistenceProvider)()
    else:
        from liteflow.providers.redis import RedisPersistenceProvider

        provider = _faulty(RedisPersistenceProvider)(
            request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_cleanup")
        )
    provider.faults = Faults()
    yield provider
    provider.close()


class QueueLosingAnnouncements(MemoryQueueProvider):
    """Queueing a child's announcement fails once (as if its host died before queueing it)."""

    def __init__(self, persistence: Any) -> None:
        super().__init__()
        self.persistence = persistence
        self.lost = 0

    def queue_work(self, item_id: str, queue: QueueType) -> None:
        if queue is QueueType.EVENT and self.lost == 0:
            try:
                name = self.persistence.get_event(item_id).event_name
            except KeyError:
                name = ""
            if name == CHILD_COMPLETED_EVENT:
                self.lost += 1
                raise ProviderError("queue_work failed (simulated)")
        super().queue_work(item_id, queue)


def _run_parent(persistence: Any, queue: Any = None) -> WorkflowInstance:
    host = configure_workflow_host(persistence, queue, poll_interval=0.2)
    host.register_workflow(Child())
    host.register_workflow(Parent())
    with host:
        wid = host.start_workflow("Parent", data={})
        parent = host.wait_for_workflow(wid, timeout=WAIT)
        assert parent.status is WorkflowStatus.COMPLETE
        assert parent.data["child"] == {"answer": 42}
        pointer = next(p for p in parent.execution_pointers if p.event_name == CHILD_COMPLETED_EVENT)
        child = host.get_workflow_instance(pointer.event_key)
        assert child.status is WorkflowStatus.COMPLETE
        # the announcement is processed: at once when the event worker delivered it, or soon after when the
        # parent's own worker did (it pulled it, or it was left to it): then the event is queued again, and
        # the event worker, finding no one waiting any more, marks it processed
        wait_until(lambda: persistence.get_runnable_events(utcnow()) == [], timeout=WAIT)
    return parent


@pytest.mark.redis
@pytest.mark.parametrize("times", [1, 3])
def test_the_parent_completes_though_the_announcement_could_not_be_written(persistence: Any, times: int) -> None:
    if isinstance(persistence, MemoryPersistenceProvider):
        # the memory provider keeps the very instance it was last given, so a pass that fails before
        # its store is seen as stored; a real store is needed to tell the two apart
        pytest.skip("needs a store that keeps copies")
    persistence.faults.announcements = times
    _run_parent(persistence)
    assert persistence.faults.announcements == 0


def test_the_parent_completes_though_the_childs_host_failed_right_after_storing_its_end(persistence: Any) -> None:
    persistence.faults.after_end = True
    _run_parent(persistence)
    assert persistence.faults.failed.is_set()


def test_the_parent_completes_though_the_announcement_could_not_be_queued(persistence: Any) -> None:
    queue = QueueLosingAnnouncements(persistence)
    _run_parent(persistence, queue)
    assert queue.lost == 1


def test_an_announcement_is_delivered_only_once_the_childs_end_is_stored_and_as_stored(persistence: Any) -> None:
    from liteflow.core.primitives.sub_workflow import completion_event_id, settled_announcement

    host = configure_workflow_host(persistence, poll_interval=0.2)
    host.register_workflow(Child())
    child_id = host.start_workflow("Child", data={})  # never run: the host is not started
    # the announcement written before the child's final pass is stored; here it never gets stored
    event = Event(
        id=completion_event_id(child_id), event_name=CHILD_COMPLETED_EVENT, event_key=child_id, event_data={"a": 1}
    )
    persistence.create_event(event)
    assert settled_announcement(host, persistence.get_event(event.id)) is None
    child = persistence.get_workflow_instance(child_id)
    child.status = WorkflowStatus.TERMINATED  # terminated meanwhile, by someone else
    persistence.persist_workflow(child)
    settled = settled_announcement(host, persistence.get_event(event.id))
    assert settled is not None and settled.event_data == {CHILD_TERMINATED: child_id}
    assert persistence.get_event(event.id).event_data == {CHILD_TERMINATED: child_id}  # stored so, too


class WaitingChild(Workflow):
    def id(self) -> str:
        return "WaitingChild"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).wait_for("never", lambda d, c: "k")


class ParentOfWaiting(Workflow):
    def id(self) -> str:
        return "ParentOfWaiting"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).sub_workflow("WaitingChild").then(lambda c: None)


def test_the_parent_hears_of_a_terminated_child_though_the_announcement_could_not_be_written(persistence: Any) -> None:
    host = configure_workflow_host(persistence, poll_interval=0.2)
    host.register_workflow(WaitingChild())
    host.register_workflow(ParentOfWaiting())
    with host:
        parent_id = host.start_workflow("ParentOfWaiting")

        def child_waiting() -> str | None:
            parent = host.get_workflow_instance(parent_id)
            child_ids = [p.event_key for p in parent.execution_pointers if p.event_name == CHILD_COMPLETED_EVENT]
            if not child_ids:
                return None
            child = host.get_workflow_instance(child_ids[0])
            return child.id if any(p.event_name == "never" for p in child.execution_pointers) else None

        child_id = wait_until(child_waiting, WAIT)
        persistence.faults.announcements = 1
        with pytest.raises(ProviderError):
            host.terminate_workflow(child_id)
        # the failed call changed nothing the parent could miss: terminating again works and is heard
        assert host.terminate_workflow(child_id) is True
        errors = wait_until(lambda: host.get_errors(parent_id), WAIT)
        assert "terminated" in errors[0].message
