"""A pass that loses its compare-and-set is dropped, whatever the newer write was: only the lock holder
writes an instance, so a newer revision means this writer's lock lapsed and another host took over
(nothing of the stale pass may land on top). A status change requested meanwhile is not a newer
write: it is stored beside the instance and applied by the holder to its pass, in the same write."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

from liteflow.core.control_state import pending_control
from liteflow.core.engine.outcome import PassResult
from liteflow.core.lifecycle import WorkflowCompleted, WorkflowSuspended
from liteflow.core.models import WorkflowInstance, WorkflowStatus, new_pointer, to_millis, utcnow
from liteflow.core.services import control
from liteflow.core.services.workflow_consumer import WorkflowConsumer


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis), "mongo"])
def persistence(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        from liteflow.providers.memory import MemoryPersistenceProvider

        provider: Any = MemoryPersistenceProvider()
    elif request.param == "redis":
        from liteflow.providers.redis import RedisPersistenceProvider

        provider = RedisPersistenceProvider(
            request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_cleanup")
        )
    else:
        from liteflow.providers.mongo import MongoPersistenceProvider

        provider = MongoPersistenceProvider(
            request.getfixturevalue("mongo_client"), database=request.getfixturevalue("mongo_database")
        )
    yield provider
    provider.close()


def _consumer(persistence: Any) -> WorkflowConsumer:
    consumer = WorkflowConsumer.__new__(WorkflowConsumer)
    consumer.runtime = types.SimpleNamespace(  # type: ignore[assignment]
        persistence=persistence, control_signal=types.SimpleNamespace(applied=lambda: None)
    )
    consumer._deliveries = {}
    return consumer


def _two_copies(persistence: Any) -> tuple[WorkflowInstance, WorkflowInstance]:
    now = utcnow()
    instance = WorkflowInstance(workflow_definition_id="d", version=1, create_time=now, next_execution=to_millis(now))
    instance.execution_pointers.append(new_pointer(step_id=0, step_name="done", end_time=now))
    instance.execution_pointers.append(new_pointer(step_id=1, step_name="s1"))
    persistence.create_workflow(instance)
    ours, theirs = (persistence.get_workflow_instance(instance.id) for _ in range(2))
    return ours, theirs


@pytest.mark.parametrize("their_status", [WorkflowStatus.RUNNABLE, WorkflowStatus.COMPLETE, WorkflowStatus.SUSPENDED])
def test_a_pass_over_any_newer_write_is_dropped(persistence: Any, their_status: WorkflowStatus) -> None:
    ours, theirs = _two_copies(persistence)
    now = utcnow()
    theirs.execution_pointers[1].end_time = now  # the host that took over ran the step and finished
    theirs.execution_pointers.append(new_pointer(step_id=10, step_name="B0"))
    theirs.status = their_status
    theirs.data = {"by": "them"}
    persistence.persist_workflow(theirs)

    ours.execution_pointers[1].end_time = now  # the stale holder ran the same step
    ours.execution_pointers.append(new_pointer(step_id=20, step_name="A0"))
    ours.data = {"by": "us"}
    assert not _consumer(persistence).save(ours, PassResult())

    stored = persistence.get_workflow_instance(ours.id)
    assert stored.status is their_status and stored.data == {"by": "them"} and stored.revision == 2
    assert [p.step_name for p in stored.execution_pointers] == ["done", "s1", "B0"]


def test_a_status_change_requested_during_a_pass_is_stored_with_it(persistence: Any) -> None:
    ours, _ = _two_copies(persistence)
    request = control.new_request("suspend")
    assert persistence.request_control(ours.id, None, request)

    ours.execution_pointers[1].end_time = utcnow()  # the pass ran the last step: it completed
    ours.execution_pointers.append(new_pointer(step_id=20, step_name="A0", end_time=utcnow()))
    ours.status = WorkflowStatus.COMPLETE
    ours.complete_time = utcnow()
    result = PassResult(events=[WorkflowCompleted.of(ours)])
    assert _consumer(persistence).save(ours, result)

    stored = persistence.get_workflow_instance(ours.id)
    assert stored.revision == ours.revision == 2  # one write: the pass and the suspend together
    assert stored.status is WorkflowStatus.SUSPENDED and stored.complete_time is None
    assert [p.step_name for p in stored.execution_pointers] == ["done", "s1", "A0"]
    assert pending_control(stored) is None
    assert [type(e) for e in result.events] == [WorkflowSuspended]  # the completion did not happen
