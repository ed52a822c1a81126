"""Lifecycle events reach every host sharing a hub: a client sees what a worker host did."""

from __future__ import annotations

import threading

import pytest

from liteflow.core import (
    LifecycleEvent,
    StepBody,
    StepCompleted,
    Workflow,
    WorkflowBuilder,
    WorkflowCompleted,
    WorkflowStarted,
    configure_workflow_host,
)
from liteflow.core.lifecycle_hub import MemoryLifecycleHub


class Noop(StepBody):
    def run(self, context: object) -> None:
        return None


class TwoSteps(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Noop).then(Noop)


def _watch(host: object) -> tuple[list[LifecycleEvent], threading.Event]:
    seen: list[LifecycleEvent] = []
    completed = threading.Event()

    def listener(event: LifecycleEvent) -> None:
        seen.append(event)
        if isinstance(event, WorkflowCompleted):
            completed.set()

    host.on_lifecycle_event(listener)  # type: ignore[attr-defined]
    return seen, completed


def test_memory_hub_shares_events_between_hosts_once_each() -> None:
    hub = MemoryLifecycleHub()
    worker = configure_workflow_host(lifecycle_hub=hub)
    client = configure_workflow_host(worker.persistence, worker.queue, worker.lock, lifecycle_hub=hub)
    for host in (worker, client):
        host.register_workflow(TwoSteps())
    seen, completed = _watch(client)
    with worker:
        workflow_id = client.start_workflow("TwoSteps")
        assert completed.wait(5)
    assert [type(e) for e in seen].count(WorkflowStarted) == 1  # its own, not echoed back by the hub
    assert [type(e) for e in seen].count(StepCompleted) == 2
    assert all(e.workflow_instance_id == workflow_id for e in seen)


@pytest.mark.parametrize(
    "store",
    [pytest.param("redis", marks=pytest.mark.redis), pytest.param("redis-cluster", marks=pytest.mark.redis_cluster)],
)
def test_redis_hub_delivers_other_hosts_events(store: str, request: pytest.FixtureRequest) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider
    from liteflow.providers.redis.lifecycle import RedisLifecycleHub

    cluster = store == "redis-cluster"
    redis_url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    redis_cleanup = request.getfixturevalue("redis_cluster_cleanup" if cluster else "redis_cleanup")

    def host() -> object:
        return configure_workflow_host(
            persistence=RedisPersistenceProvider(redis_url, prefix=redis_cleanup),
            queue=RedisQueueProvider(redis_url, prefix=redis_cleanup),
            lock=RedisLockProvider(redis_url, prefix=redis_cleanup),
            lifecycle_hub=RedisLifecycleHub(redis_url, prefix=redis_cleanup),
            poll_interval=0.2,
        )

    worker, client = host(), host()
    for h in (worker, client):
        h.register_workflow(TwoSteps())  # type: ignore[attr-defined]
    seen, completed = _watch(client)
    with worker:  # type: ignore[attr-defined]
        workflow_id = client.start_workflow("TwoSteps")  # type: ignore[attr-defined]
        assert completed.wait(10)
    client.close()  # type: ignore[attr-defined]
    kinds = [type(e).__name__ for e in seen if e.workflow_instance_id == workflow_id]
    assert kinds.count("WorkflowStarted") == 1
    assert kinds.count("StepStarted") == 2 and kinds.count("StepCompleted") == 2
    assert kinds[-1] == "WorkflowCompleted"
