"""A fast smoke run of the Redis providers on fakeredis (no server). Needs fakeredis with Lua (``lupa``,
i.e. ``fakeredis[lua]``); skipped without it. The real-server tests beside this one are the reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import redis

from liteflow.core.errors import ConcurrencyError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import Event, EventSubscription, WorkflowInstance, WorkflowStatus
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

fakeredis = pytest.importorskip("fakeredis")
pytest.importorskip("lupa")

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
PREFIX = "lftest:fake:"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client: redis.Redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


def test_persistence_round_trip_cas_and_indexes(client: redis.Redis) -> None:
    store = RedisPersistenceProvider(client, prefix=PREFIX)
    instance = WorkflowInstance(workflow_definition_id="x", version=1, data={"n": 1}, next_execution=5)
    store.create_workflow(instance)
    stale = store.get_workflow_instance(instance.id)
    subscription = EventSubscription(
        workflow_id=instance.id,
        step_id=1,
        execution_pointer_id="p",
        event_name="e",
        event_key="k",
        subscribe_as_of=T0,
    )
    store.persist_workflow(instance, [subscription])
    with pytest.raises(ConcurrencyError):
        store.persist_workflow(stale)
    assert store.get_workflow_instance(instance.id).revision == 2
    assert store.get_runnable_instances(T0) == [instance.id]
    assert [s.id for s in store.get_subscriptions("e", "k", T0)] == [subscription.id]

    event = Event(event_name="e", event_key="k", event_time=T0)
    store.create_event(event)
    assert [e.id for e in store.get_events("e", "k", T0, T0)] == [event.id]
    store.mark_event_processed(event.id)
    store.mark_event_unprocessed(event.id)
    assert store.get_runnable_events(T0) == [event.id]

    instance.status, instance.complete_time = WorkflowStatus.COMPLETE, T0
    store.persist_workflow(instance)
    assert store.get_runnable_instances(T0) == []
    assert store.purge_workflows(WorkflowStatus.COMPLETE, T0 + timedelta(seconds=1)) == 1


def test_queue_dedupes_and_pops_in_order(client: redis.Redis) -> None:
    queue = RedisQueueProvider(client, prefix=PREFIX)
    for item in ("a", "b", "a"):
        queue.queue_work(item, QueueType.WORKFLOW)
    assert queue.dequeue_work(QueueType.WORKFLOW, 0.1) == "a"
    assert queue.dequeue_work(QueueType.WORKFLOW, 0.1) == "b"
    assert queue.dequeue_work(QueueType.WORKFLOW, 0) is None


def test_locks_are_exclusive_and_safely_released(client: redis.Redis) -> None:
    a = RedisLockProvider(client, prefix=PREFIX, lease=10)
    b = RedisLockProvider(client, prefix=PREFIX, lease=10)
    assert a.acquire_lock("r") and not b.acquire_lock("r")
    b.release_lock("r")
    assert not b.acquire_lock("r")
    a.release_lock("r")
    assert b.acquire_lock("r")
    a.close()
    b.close()


def test_the_store_check_on_fakeredis(client: redis.Redis) -> None:
    RedisPersistenceProvider(client, prefix=PREFIX, shards=4).close()
    RedisPersistenceProvider(client, prefix=PREFIX, shards=4).close()  # the same count opens again
    with pytest.raises(ValueError, match=r"was made with 4 shards .* opened with 16:"):
        RedisPersistenceProvider(client, prefix=PREFIX)
    client.zadd("lftest:old:idx:status:Runnable", {"w": 1.0})  # a store of the layout before shards
    with pytest.raises(ValueError, match=r"previous layout.*\(lftest:old:idx:status:Runnable\)"):
        RedisPersistenceProvider(client, prefix="lftest:old:")
