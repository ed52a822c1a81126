"""Taking a workflow's lock and reading it on Redis: with the lock provider on the store's server, one script
(``SupportsLockedLoads``); elsewhere (another database, a lock provider of another class, a cluster) the
lock, then the read."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from liteflow.core import (
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowStatus,
    configure_workflow_host,
)
from liteflow.core.errors import WorkflowNotFoundError
from liteflow.core.models import EventSubscription, utcnow
from liteflow.core.services.event_consumer import EventConsumer
from liteflow.core.services.workflow_consumer import WorkflowConsumer
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = pytest.mark.redis


class Add(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        context.workflow.data["n"] += 1


class Twice(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Add).then(Add)


def _lock_owner(client: Any, prefix: str, workflow_id: str) -> bytes | None:
    owner: bytes | None = client.get(f"{prefix}lock:{workflow_id}")
    return owner


def test_one_script_takes_the_lock_and_reads_the_instance(redis_url: str, redis_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    host.register_workflow(Twice())
    other = RedisLockProvider(redis_url, prefix=redis_cleanup)
    client = redis.Redis.from_url(redis_url)
    try:
        locked_load = host.runtime.lock_and_load
        assert locked_load is not None
        workflow_id = host.start_workflow("Twice", 1, {"n": 1})
        instance = locked_load(workflow_id)
        assert instance is not None
        assert (instance.id, instance.data, instance.status) == (workflow_id, {"n": 1}, WorkflowStatus.RUNNABLE)
        assert instance.execution_pointers == host.get_workflow_instance(workflow_id).execution_pointers
        assert workflow_id in host.lock.held()  # recorded and renewed as any lock of this provider
        assert _lock_owner(client, redis_cleanup, workflow_id) is not None
        assert 0 < client.pttl(f"{redis_cleanup}lock:{workflow_id}") <= 30_000
        assert locked_load(workflow_id) is None  # not re-entrant: held, nothing read
        assert other.acquire_lock(workflow_id) is False
        host.lock.release_lock(workflow_id)
        assert _lock_owner(client, redis_cleanup, workflow_id) is None
        assert workflow_id not in host.lock.held()
        assert other.acquire_lock(workflow_id) is True
        assert locked_load(workflow_id) is None  # held by another provider
        other.release_lock(workflow_id)
    finally:
        other.close()
        client.close()
        host.close()


def test_an_unknown_instance_is_not_found_with_the_lock_taken(redis_url: str, redis_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    client = redis.Redis.from_url(redis_url)
    try:
        locked_load = host.runtime.lock_and_load
        assert locked_load is not None
        with pytest.raises(WorkflowNotFoundError):
            locked_load("no-such-instance")
        assert "no-such-instance" in host.lock.held()
        host.lock.release_lock("no-such-instance")
        assert _lock_owner(client, redis_cleanup, "no-such-instance") is None
    finally:
        client.close()
        host.close()


def test_a_long_history_is_read_after_the_lock_not_in_its_script(redis_url: str, redis_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    host.register_workflow(Twice())
    client = redis.Redis.from_url(redis_url)
    try:
        locked_load = host.runtime.lock_and_load
        assert locked_load is not None
        workflow_id = host.start_workflow("Twice", 1, {"n": 1})
        stored = host.get_workflow_instance(workflow_id)
        key = next(k for k in client.scan_iter(match=f"{redis_cleanup}*wf:{workflow_id}"))
        client.hset(key, mapping={f"x{i}": "-" for i in range(300)})  # a hash as long as a long history's
        reads: list[str] = []
        read = host.persistence.get_workflow_instance
        host.persistence.get_workflow_instance = lambda wid: reads.append(wid) or read(wid)  # type: ignore[method-assign]
        instance = locked_load(workflow_id)
        assert reads == [workflow_id]  # read on its own, the lock already taken
        assert instance is not None and instance.execution_pointers == stored.execution_pointers
        assert workflow_id in host.lock.held() and _lock_owner(client, redis_cleanup, workflow_id) is not None
        host.lock.release_lock(workflow_id)
        client.hdel(key, *(f"x{i}" for i in range(300)))
        assert locked_load(workflow_id) is not None and reads == [workflow_id]  # short: in the script
        host.lock.release_lock(workflow_id)
    finally:
        client.close()
        host.close()


def test_an_instance_it_cannot_read_leaves_the_lock_free(redis_url: str, redis_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    host.register_workflow(Twice())
    other = RedisLockProvider(redis_url, prefix=redis_cleanup)
    client = redis.Redis.from_url(redis_url)
    try:
        locked_load = host.runtime.lock_and_load
        assert locked_load is not None
        workflow_id = host.start_workflow("Twice", 1, {"n": 1})
        key = next(k for k in client.scan_iter(match=f"{redis_cleanup}*wf:{workflow_id}"))
        client.hset(key, "doc", b"not json")
        with pytest.raises(ValueError):  # not JSON
            locked_load(workflow_id)
        assert workflow_id not in host.lock.held()  # not renewed for ever
        assert _lock_owner(client, redis_cleanup, workflow_id) is None
        assert other.acquire_lock(workflow_id) is True
        other.release_lock(workflow_id)
    finally:
        other.close()
        client.close()
        host.close()


def test_an_event_for_a_deleted_instance_ends_its_subscription(redis_url: str, redis_cleanup: str) -> None:
    """The event consumer's one-step lock and load finds no instance: the subscription ends, the lock goes."""
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    client = redis.Redis.from_url(redis_url)
    try:
        subscription = EventSubscription(
            workflow_id="gone",
            step_id=1,
            execution_pointer_id="p",
            event_name="go",
            event_key="k",
            subscribe_as_of=utcnow(),
        )
        host.persistence.create_event_subscription(subscription)
        assert host.persistence.get_subscriptions("go", "k", utcnow()) != []
        consumer = EventConsumer(host.runtime, WorkflowConsumer(host.runtime), lambda instance, run: False)
        assert consumer.seed(subscription, []) is True
        assert host.persistence.get_subscriptions("go", "k", utcnow()) == []
        assert "gone" not in host.lock.held() and _lock_owner(client, redis_cleanup, "gone") is None
    finally:
        client.close()
        host.close()


def test_a_started_host_runs_and_delivers_through_the_locked_load(redis_url: str, redis_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    host.register_workflow(Twice())
    client = redis.Redis.from_url(redis_url)
    calls: list[str] = []
    assert host.runtime.lock_and_load is not None
    locked_load = host.runtime.lock_and_load
    host.runtime.lock_and_load = lambda workflow_id: calls.append(workflow_id) or locked_load(workflow_id)
    host.start()
    try:
        workflow_id = host.start_workflow("Twice", 1, {"n": 1})
        done = host.wait_for_workflow(workflow_id, timeout=10)
        assert done.status is WorkflowStatus.COMPLETE and done.data == {"n": 3}
        assert workflow_id in calls
        assert _lock_owner(client, redis_cleanup, workflow_id) is None  # released after the run
    finally:
        host.stop()
        client.close()
        host.close()


class Loop(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Add).while_(lambda data, context: data["n"] < 40).do(lambda b: b.start_with(Add))


def test_an_instance_queued_again_for_fairness_is_not_read_again(redis_url: str, redis_cleanup: str) -> None:
    """A long loop handed back every ``max_passes`` passes is parked: taken up again with the lock and a
    revision check, not read again with its whole history."""
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup, max_passes=4)
    host.register_workflow(Loop())
    runtime = host.runtime
    locked_load, revision_of = runtime.lock_and_load, runtime.revision_of
    assert locked_load is not None and revision_of is not None
    loads: list[str] = []
    revisions: list[str] = []
    runtime.lock_and_load = lambda workflow_id: loads.append(workflow_id) or locked_load(workflow_id)
    runtime.revision_of = lambda workflow_id: revisions.append(workflow_id) or revision_of(workflow_id)
    host.start()
    try:
        workflow_id = host.start_workflow("Loop", 1, {"n": 0})
        done = host.wait_for_workflow(workflow_id, timeout=20)
        assert done.status is WorkflowStatus.COMPLETE and done.data == {"n": 40}
        assert len(revisions) >= 10  # about 80 passes, 4 at a time: taken up again from the parked copy
        assert len(loads) <= 3  # the first take (and a stray one or two), not one per hand-back
    finally:
        host.stop()
        host.close()


def test_elsewhere_the_lock_then_the_read(redis_url: str, redis_cleanup: str) -> None:
    kwargs = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    other_url = f"redis://{kwargs['host']}:{kwargs['port']}/{int(kwargs.get('db') or 0) + 1}"

    class CountingLock(RedisLockProvider):
        taken = 0

        def acquire_lock(self, resource_id: str) -> bool:
            CountingLock.taken += 1
            return super().acquire_lock(resource_id)

    store = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    elsewhere = RedisLockProvider(other_url, prefix=redis_cleanup)
    counting = CountingLock(redis_url, prefix=redis_cleanup)
    queue = RedisQueueProvider(redis_url, prefix=redis_cleanup)
    try:
        assert store.locked_loads(elsewhere) is None
        assert store.locked_loads(counting) is None  # a subclass may take its locks its own way
        assert store.locked_loads(object()) is None  # type: ignore[arg-type]
        same = RedisLockProvider(redis_url, prefix=redis_cleanup)
        assert store.locked_loads(same) is not None
        same.close()
        host = configure_workflow_host(store, queue, counting)
        host.register_workflow(Twice())
        assert host.runtime.lock_and_load is None
        host.start()
        try:
            workflow_id = host.start_workflow("Twice", 1, {"n": 1})
            assert host.wait_for_workflow(workflow_id, timeout=10).data == {"n": 3}
            assert CountingLock.taken >= 1  # the host took the subclass's lock its own way
        finally:
            host.stop()
    finally:
        store.close()
        elsewhere.close()
        counting.close()
        queue.close()


@pytest.mark.redis_cluster
def test_a_cluster_takes_the_lock_then_reads(redis_cluster_url: str, redis_cluster_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_cluster_url, prefix=redis_cluster_cleanup)
    host.register_workflow(Twice())
    host.start()
    try:
        assert host.runtime.lock_and_load is None
        workflow_id = host.start_workflow("Twice", 1, {"n": 1})
        assert host.wait_for_workflow(workflow_id, timeout=10).data == {"n": 3}
    finally:
        host.stop()
        host.close()
