"""liteflow.core.changes: which pointers a provider storing them one by one must write."""

from __future__ import annotations

from liteflow.core.changes import changed_pointers, mark_stored, touch
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, utcnow


def _instance(n: int) -> WorkflowInstance:
    return WorkflowInstance(
        workflow_definition_id="wf", version=1, execution_pointers=[ExecutionPointer(step_id=i) for i in range(n)]
    )


def _end(pointer: ExecutionPointer) -> None:
    pointer.end_time = utcnow()
    pointer.status = PointerStatus.COMPLETE


def positions(instance: WorkflowInstance) -> list[int]:
    return [i for i, _ in changed_pointers(instance)]


def test_an_instance_never_stored_writes_every_pointer() -> None:
    assert positions(_instance(3)) == [0, 1, 2]


def test_after_a_store_only_open_and_new_pointers_are_written() -> None:
    instance = _instance(3)
    _end(instance.execution_pointers[0])
    mark_stored(instance, changed_pointers(instance))
    assert positions(instance) == [1, 2]  # 0 ended before the store
    _end(instance.execution_pointers[1])
    instance.execution_pointers.append(ExecutionPointer(step_id=3))
    assert positions(instance) == [1, 2, 3]  # 1 ended since: written once more
    mark_stored(instance, changed_pointers(instance))
    assert positions(instance) == [2, 3]


def test_a_failed_store_is_retried_with_everything_it_held() -> None:
    instance = _instance(2)
    mark_stored(instance, changed_pointers(instance))
    _end(instance.execution_pointers[0])
    instance.execution_pointers.append(ExecutionPointer(step_id=2))
    pending = positions(instance)
    # the store failed: nothing marked; the next attempt writes the same and more
    instance.execution_pointers.append(ExecutionPointer(step_id=3))
    assert positions(instance) == [*pending, 3]


def test_an_ended_pointer_changed_again_is_written_once_touched() -> None:
    instance = _instance(2)
    _end(instance.execution_pointers[0])
    mark_stored(instance, changed_pointers(instance))
    instance.execution_pointers[0].status = PointerStatus.COMPENSATED
    assert positions(instance) == [1]
    touch(instance, instance.execution_pointers[0])
    assert positions(instance) == [0, 1]
    mark_stored(instance, changed_pointers(instance))
    assert positions(instance) == [1]


def test_a_copy_with_its_own_pointer_list_writes_everything() -> None:
    instance = _instance(2)
    mark_stored(instance, changed_pointers(instance))
    copy = instance.model_copy(update={"execution_pointers": list(instance.execution_pointers)})
    assert positions(copy) == [0, 1]
