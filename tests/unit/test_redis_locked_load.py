"""Taking a workflow's lock and reading it on Redis: with the lock provider on the store's server, one script
(``SupportsLockedLoads``); elsewhere (another database, a lock provider of another class, a cluster) the
lock, then the read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from liteflow.core import (
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
    configure_workflow_host,
)
from liteflow.core.errors import WorkflowNotFoundError
from liteflow.core.models import EventSubscription, WorkflowInstance, utcnow
from liteflow.core.services.event_consumer import EventConsumer
from liteflow.core.services.workflow_consumer import WorkflowConsumer
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = pytest.mark.redis

T = TypeVar("T")


class Add(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        context.workflow.data["n"] += 1


class Twice(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Add).then(Add)


def _lock_owner(client: Any, prefix: str, workflow_id: str) -> bytes | None:
    owner: bytes | None = client.get(f"{prefix}lock:{workflow_id}")
    return owner


def _instance_key(client: Any, prefix: str, workflow_id: str) -> Any:
    return next(k for k in client.scan_iter(match=f"{prefix}*wf:{workflow_id}"))


def _locked_load(host: WorkflowHost) -> Callable[[str], WorkflowInstance | None]:
    locked_load = host.runtime.lock_and_load
    assert locked_load is not None
    return locked_load


def _recorded(calls: list[str], call: Callable[[str], T]) -> Callable[[str], T]:
    """``call``, each id it is called with appended to ``calls`` first."""

    def recording(workflow_id: str) -> T:
        calls.append(workflow_id)
        return call(workflow_id)

    return recording


@pytest.fixture
def host(redis_url: str, redis_cleanup: str) -> Iterator[WorkflowHost]:
    """A host (not started) on the three Redis providers of one URL, with ``Twice`` registered."""
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    host.register_workflow(Twice())
    yield host
    host.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def other(redis_url: str, redis_cleanup: str) -> Iterator[RedisLockProvider]:
    """Another lock provider on the same keys."""
    other = RedisLockProvider(redis_url, prefix=redis_cleanup)
    yield other
    other.close()


def test_one_script_takes_the_lock_and_reads_the_instance(
    host: WorkflowHost, client: Any, other: RedisLockProvider, redis_cleanup: str
) -> None:
    locked_load = _locked_load(host)
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


def test_an_unknown_instance_is_not_found_with_the_lock_taken(
    host: WorkflowHost, client: Any, redis_cleanup: str
) -> None:
    with pytest.raises(WorkflowNotFoundError):
        _locked_load(host)("no-such-instance")
    assert "no-such-instance" in host.lock.held()
    host.lock.release_lock("no-such-instance")
    assert _lock_owner(client, redis_cleanup, "no-such-instance") is None


def test_a_long_history_is_read_after_the_lock_not_in_its_script(
    host: WorkflowHost, client: Any, redis_cleanup: str
) -> None:
    locked_load = _locked_load(host)
    workflow_id = host.start_workflow("Twice", 1, {"n": 1})
    stored = host.get_workflow_instance(workflow_id)
    key = _instance_key(client, redis_cleanup, workflow_id)
    client.hset(key, mapping={f"x{i}": "-" for i in range(300)})  # a hash as long as a long history's
    reads: list[str] = []
    host.persistence.get_workflow_instance = _recorded(reads, host.persistence.get_workflow_instance)  # type: ignore[method-assign]
    instance = locked_load(workflow_id)
    assert reads == [workflow_id]  # read on its own, the lock already taken
    assert instance is not None and instance.execution_pointers == stored.execution_pointers
    assert workflow_id in host.lock.held() and _lock_owner(client, redis_cleanup, workflow_id) is not None
    host.lock.release_lock(workflow_id)
    client.hdel(key, *(f"x{i}" for i in range(300)))
    assert locked_load(workflow_id) is not None and reads == [workflow_id]  # short: in the script
    host.lock.release_lock(workflow_id)


def test_an_instance_it_cannot_read_leaves_the_lock_free(
    host: WorkflowHost, client: Any, other: RedisLockProvider, redis_cleanup: str
) -> None:
    locked_load = _locked_load(host)
    workflow_id = host.start_workflow("Twice", 1, {"n": 1})
    client.hset(_instance_key(client, redis_cleanup, workflow_id), "doc", b"not json")
    with pytest.raises(ValueError):  # not JSON
        locked_load(workflow_id)
    assert workflow_id not in host.lock.held()  # not renewed for ever
    assert _lock_owner(client, redis_cleanup, workflow_id) is None
    assert other.acquire_lock(workflow_id) is True
    other.release_lock(workflow_id)


def test_an_event_for_a_deleted_instance_ends_its_subscription(
    host: WorkflowHost, client: Any, redis_cleanup: str
) -> None:
    """The event consumer's one-step lock and load finds no instance: the subscription ends, the lock goes."""
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


def test_a_started_host_runs_through_the_locked_load(host: WorkflowHost, client: Any, redis_cleanup: str) -> None:
    calls: list[str] = []
    host.runtime.lock_and_load = _recorded(calls, _locked_load(host))
    host.start()
    try:
        workflow_id = host.start_workflow("Twice", 1, {"n": 1})
        done = host.wait_for_workflow(workflow_id, timeout=10)
        assert done.status is WorkflowStatus.COMPLETE and done.data == {"n": 3}
        assert workflow_id in calls
        assert _lock_owner(client, redis_cleanup, workflow_id) is None  # released after the run
    finally:
        host.stop()


class Loop(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Add).while_(lambda data, context: data["n"] < 40).do(lambda b: b.start_with(Add))


def test_an_instance_queued_again_for_fairness_is_not_read_again(redis_url: str, redis_cleanup: str) -> None:
    """A long loop handed back every ``max_passes`` passes is parked: taken up again with the lock and a
    revision check, not read again with its whole history."""
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup, max_passes=4)
    host.register_workflow(Loop())
    runtime = host.runtime
    assert runtime.revision_of is not None
    loads: list[str] = []
    revisions: list[str] = []
    runtime.lock_and_load = _recorded(loads, _locked_load(host))
    runtime.revision_of = _recorded(revisions, runtime.revision_of)
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
