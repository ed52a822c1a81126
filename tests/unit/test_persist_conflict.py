"""A pass that loses its compare-and-set to a status change (suspend or terminate, made meanwhile by
another writer) is stored whole on top of it: on the providers that write only changed pointers, the
other writer's pointers must not stay mixed into the history."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

from liteflow.core.engine.outcome import PassResult
from liteflow.core.models import WorkflowInstance, WorkflowStatus, new_pointer, to_millis, utcnow
from liteflow.core.services.workflow_consumer import WorkflowConsumer


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "mongo"])
def persistence(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "redis":
        from liteflow.providers.redis import RedisPersistenceProvider

        provider: Any = RedisPersistenceProvider(
            request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_cleanup")
        )
    else:
        from liteflow.providers.mongo import MongoPersistenceProvider

        provider = MongoPersistenceProvider(
            request.getfixturevalue("mongo_client"), database=request.getfixturevalue("mongo_database")
        )
    yield provider
    provider.close()


def test_a_pass_stored_over_a_newer_status_change_replaces_the_other_writers_pointers(persistence: Any) -> None:
    now = utcnow()
    instance = WorkflowInstance(workflow_definition_id="d", version=1, create_time=now, next_execution=to_millis(now))
    instance.execution_pointers.append(new_pointer(step_id=0, step_name="done", end_time=now))
    instance.execution_pointers.append(new_pointer(step_id=1, step_name="s1"))
    persistence.create_workflow(instance)
    ours, theirs = (persistence.get_workflow_instance(instance.id) for _ in range(2))

    theirs.execution_pointers[1].end_time = now  # another writer ran a step, added three, suspended
    theirs.execution_pointers.extend(new_pointer(step_id=10 + i, step_name=f"B{i}") for i in range(3))
    theirs.status = WorkflowStatus.SUSPENDED
    persistence.persist_workflow(theirs)

    ours.execution_pointers[1].end_time = now  # this pass ran the same step and added one
    ours.execution_pointers.append(new_pointer(step_id=20, step_name="A0"))
    consumer = WorkflowConsumer.__new__(WorkflowConsumer)
    consumer.host = types.SimpleNamespace(persistence=persistence)
    assert consumer.save(ours, PassResult())

    stored = persistence.get_workflow_instance(instance.id)
    assert stored.status is WorkflowStatus.SUSPENDED  # the status change made meanwhile wins
    assert [p.step_name for p in stored.execution_pointers] == ["done", "s1", "A0"]
    assert stored.revision == ours.revision == 3
