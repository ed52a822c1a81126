"""A host whose lock lapsed mid-step can never write: the host that took over keeps its newer state.

The lapse is simulated (the lock entry is removed while host A's step runs: what a lease running out
looks like to everyone else), so that host B, sharing A's providers, takes the instance over and
completes it before A's step returns. A's pass must then be dropped whole: its data, its pointers,
its completion (the "post" middleware runs on B only), whatever status B left behind.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from liteflow.core import (
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
    configure_workflow_host,
)

Pair = tuple[Callable[..., WorkflowHost], Callable[[str], None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def hosts(request: pytest.FixtureRequest) -> Iterator[Pair]:
    """``make(**options)`` makes hosts sharing one store, each with its own lock owner; ``lapse(id)``
    removes the lock of ``id`` as a lease running out would."""
    made: list[WorkflowHost] = []
    if request.param == "memory":
        from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

        persistence, queue = MemoryPersistenceProvider(), MemoryQueueProvider()
        registry: dict[str, Any] = {}

        def make(**options: Any) -> WorkflowHost:
            host = configure_workflow_host(persistence, queue, MemoryLockProvider(registry=registry), **options)
            made.append(host)
            return host

        def lapse(workflow_id: str) -> None:
            registry.pop(workflow_id)

    else:
        import redis

        from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_cleanup")

        def make(**options: Any) -> WorkflowHost:
            host = configure_workflow_host(
                RedisPersistenceProvider(url, prefix),
                RedisQueueProvider(url, prefix),
                RedisLockProvider(url, prefix),
                **options,
            )
            made.append(host)
            return host

        def lapse(workflow_id: str) -> None:
            assert redis.Redis.from_url(url).delete(f"{prefix}lock:{workflow_id}") == 1

    yield make, lapse
    for host in made:
        host.stop()


@pytest.mark.parametrize("b_leaves", ["complete", "suspended"])
def test_a_host_whose_lock_lapsed_mid_step_cannot_overwrite_the_newer_state(hosts: Pair, b_leaves: str) -> None:
    make, lapse = hosts
    a_entered, a_release = threading.Event(), threading.Event()
    post: Counter[str] = Counter()

    def charge(context: StepExecutionContext) -> None:
        me = "A" if context.host is host_a else "B"
        if me == "A":
            a_entered.set()
            assert a_release.wait(10)
        context.workflow.data.update(charged_by=me, receipt=f"by-{me}")

    class Pay(Workflow):  # one step: B completes it in one write, the revision A's write expects plus one
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(charge)

    host_a, host_b = make(max_concurrent_workflows=1), make(poll_interval=0.05)
    for name, host in (("A", host_a), ("B", host_b)):
        host.register_workflow(Pay())
        host.add_workflow_middleware("post", lambda instance, name=name: post.update([name]))
    host_a.start()
    wid = host_a.start_workflow("Pay", None, {"charged_by": None, "receipt": None})
    assert a_entered.wait(5)
    lapse(wid)  # A is stalled past its lease
    if b_leaves == "suspended":
        assert host_b.suspend_workflow(wid) is True  # B, a client here, takes the lock: nobody holds it
    else:
        host_b.start()
        assert host_b.wait_for_workflow(wid, timeout=10).status is WorkflowStatus.COMPLETE
    newer = host_b.get_workflow_instance(wid)

    a_release.set()  # A's step returns: its pass must not land
    host_a.stop()

    final = host_b.get_workflow_instance(wid)
    assert final.revision == newer.revision
    assert final.status is newer.status and final.data == newer.data
    assert [p.model_dump() for p in final.execution_pointers] == [p.model_dump() for p in newer.execution_pointers]
    if b_leaves == "complete":
        assert final.data == {"charged_by": "B", "receipt": "by-B"}
        assert post == Counter({"B": 1})
    else:
        assert final.status is WorkflowStatus.SUSPENDED and final.data == {"charged_by": None, "receipt": None}
        assert post == Counter()
