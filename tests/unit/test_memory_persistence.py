"""The memory persistence provider's own behaviour: ended instances stored frozen, stripe-locked writes."""

from __future__ import annotations

import gc
import threading
from datetime import timedelta

import pytest

from liteflow.core.errors import ConcurrencyError
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus, utcnow
from liteflow.providers.memory import MemoryPersistenceProvider
from liteflow.providers.memory.frozen import freeze, thaw


class Payload:
    def __init__(self) -> None:
        self.items = [1, 2]


def _instance(**fields: object) -> WorkflowInstance:
    now = utcnow()
    pointers = [
        ExecutionPointer(step_id=0, status=PointerStatus.COMPLETE, start_time=now, end_time=now, children=["b"]),
        ExecutionPointer(step_id=1, status=PointerStatus.COMPLETE, outcome={"x": 1}, scope=["a"], retry_count=2),
    ]
    values: dict[str, object] = {
        "workflow_definition_id": "wf",
        "version": 3,
        "reference": "ref",
        "data": Payload(),
        "data_type_name": "tests.Payload",
        "execution_pointers": pointers,
    }
    values.update(fields)
    return WorkflowInstance(**values)  # type: ignore[arg-type]


def test_freeze_then_thaw_gives_back_every_field() -> None:
    instance = _instance(status=WorkflowStatus.COMPLETE, complete_time=utcnow(), revision=7)
    back = thaw(freeze(instance))
    assert back.model_dump(exclude={"data"}) == instance.model_dump(exclude={"data"})
    assert back.data is instance.data
    assert isinstance(back.status, WorkflowStatus) and isinstance(back.execution_pointers[0].status, PointerStatus)
    assert back.execution_pointers[0].children == ["b"] and isinstance(back.execution_pointers[0].children, list)


def test_a_frozen_instance_is_not_tracked_by_the_garbage_collector() -> None:
    """Unless a value in it is a container (data, an outcome): those stay as they are, and tracked."""
    now = utcnow()
    pointers = [
        ExecutionPointer(step_id=i, status=PointerStatus.COMPLETE, end_time=now, children=["x"], outcome=i)
        for i in range(3)
    ]
    frozen = freeze(_instance(status=WorkflowStatus.COMPLETE, data=None, execution_pointers=pointers))
    for _ in range(4):  # a tuple is untracked once its items are: the innermost go first
        gc.collect()
    assert not gc.is_tracked(frozen)
    with_outcome = freeze(_instance(status=WorkflowStatus.COMPLETE, data=None))  # an outcome is a dict
    for _ in range(4):
        gc.collect()
    assert gc.is_tracked(with_outcome)


def test_a_completed_instance_reads_back_whole_and_as_a_copy() -> None:
    store = MemoryPersistenceProvider()
    instance = _instance()
    store.create_workflow(instance)
    running = store.get_workflow_instance_to_run(instance.id)
    running.status = WorkflowStatus.COMPLETE
    running.complete_time = utcnow()
    store.persist_workflow(running)

    first = store.get_workflow_instance(instance.id)
    assert first.status is WorkflowStatus.COMPLETE and first.revision == 2
    assert [p.step_id for p in first.execution_pointers] == [0, 1]
    assert first.execution_pointers[1].outcome == {"x": 1}
    assert first.data == {"items": [1, 2]}  # stored as JSON, rebuilt by the host
    first.data["items"].append(3)
    first.execution_pointers[0].children.append("c")
    first.execution_pointers[1].outcome["x"] = 2
    second = store.get_workflow_instance(instance.id)
    assert second.data["items"] == [1, 2] and second.execution_pointers[0].children == ["b"]
    assert second.execution_pointers[1].outcome == {"x": 1}
    assert store.get_runnable_instances(utcnow() + timedelta(days=1)) == []


def test_compare_and_set_holds_for_frozen_instances() -> None:
    store = MemoryPersistenceProvider()
    instance = _instance()
    store.create_workflow(instance)
    a = store.get_workflow_instance(instance.id)
    b = store.get_workflow_instance(instance.id)
    a.status = WorkflowStatus.TERMINATED
    store.persist_workflow(a)
    with pytest.raises(ConcurrencyError):
        store.persist_workflow(b)
    assert store.get_workflow_instance(instance.id).status is WorkflowStatus.TERMINATED


def test_purge_removes_only_ended_instances_of_that_status() -> None:
    store = MemoryPersistenceProvider()
    done, running = _instance(), _instance()
    for instance in (done, running):
        store.create_workflow(instance)
    finished = store.get_workflow_instance(done.id)
    finished.status = WorkflowStatus.COMPLETE
    finished.complete_time = utcnow() - timedelta(hours=2)
    store.persist_workflow(finished)
    assert store.purge_workflows(WorkflowStatus.COMPLETE, utcnow() - timedelta(hours=1)) == 1
    assert [i.id for i in store.get_workflow_instances([done.id, running.id])] == [running.id]


def test_concurrent_writers_of_one_instance_never_both_win() -> None:
    store = MemoryPersistenceProvider()
    instance = _instance()
    store.create_workflow(instance)
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def writer(n: int) -> None:
        copy = store.get_workflow_instance(instance.id)
        barrier.wait()
        try:
            store.persist_workflow(copy)
            wins.append(n)
        except ConcurrencyError:
            pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.get_workflow_instance(instance.id).revision == 2


def test_the_store_keeps_its_own_copy_of_what_was_persisted() -> None:
    store = MemoryPersistenceProvider()
    instance = _instance(data={"n": 1})
    store.create_workflow(instance)
    running = store.get_workflow_instance_to_run(instance.id)
    running.data["n"] = 2
    running.execution_pointers.append(ExecutionPointer(step_id=2, persistence_data={"k": [1]}))
    store.persist_workflow(running)
    running.data["n"] = 3  # changed after the store, and not persisted
    running.execution_pointers[2].persistence_data["k"].append(2)
    stored = store.get_workflow_instance(instance.id)
    assert stored.data == {"n": 2} and stored.execution_pointers[2].persistence_data == {"k": [1]}
    assert stored.revision == running.revision == 2


def test_only_changed_pointers_are_stored_again() -> None:
    """Ended pointers are shared with the previous stored copy; an open one is stored anew each time."""
    store = MemoryPersistenceProvider()
    store.create_workflow(_instance(data=None, id="w"))
    running = store.get_workflow_instance_to_run("w")
    running.execution_pointers.append(ExecutionPointer(step_id=2))
    store.persist_workflow(running)
    before = store._instances["w"]
    store.persist_workflow(running)
    after = store._instances["w"]
    assert not isinstance(before, tuple) and not isinstance(after, tuple)
    assert after.execution_pointers[0] is before.execution_pointers[0]
    assert after.execution_pointers[2] is not before.execution_pointers[2]


def test_a_write_that_comes_while_an_instance_is_being_created_is_indexed_with_its_status() -> None:
    """The poller may queue a new instance as soon as it is stored and a worker persist it: the index
    entry must be in place by then, since a persist indexes only a change of status."""
    store = MemoryPersistenceProvider()
    index = store._visibility
    real_add = index.add
    indexing, go_on = threading.Event(), threading.Event()

    def slow_add(*args: object, **kwargs: object) -> None:
        indexing.set()
        go_on.wait(5)
        real_add(*args, **kwargs)  # type: ignore[arg-type]

    index.add = slow_add  # type: ignore[method-assign]
    instance = WorkflowInstance(workflow_definition_id="W", version=1)
    creator = threading.Thread(target=store.create_workflow, args=(instance,))
    creator.start()
    assert indexing.wait(5)

    def complete() -> None:
        run = store.get_workflow_instance(instance.id)
        run.status = WorkflowStatus.COMPLETE
        run.complete_time = utcnow()
        store.persist_workflow(run)

    worker = threading.Thread(target=complete)
    worker.start()
    worker.join(0.5)  # it waits for the creator to finish; before the fix it wrote at once
    go_on.set()
    creator.join(5)
    worker.join(5)
    assert store.get_workflow_instance(instance.id).status is WorkflowStatus.COMPLETE
    assert store.count_workflows(status=WorkflowStatus.COMPLETE) == 1
    assert store.count_workflows(status=WorkflowStatus.RUNNABLE) == 0
