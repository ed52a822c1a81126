"""Templates on the Redis providers: an instance survives a host restart, and policies hold across hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import is_waiting, wait_until

from liteflow.core import *
from liteflow.core.templates import TaskEvent, TaskRegistry, default_registry

pytestmark = pytest.mark.redis

WAIT = 15.0

TEMPLATE = {
    "title": "redis approval",
    "policy": "skip",
    "tasks": [
        {"id": "receive", "name": "tpl-redis-receive"},
        {"id": "approval", "name": "wait_for", "config": {"event_name": "approved", "event_key_from": "trigger.order"}},
        {"id": "ship", "name": "tpl-redis-ship", "config": {"carrier": "bike"}},
        {"id": "audit", "name": "tpl-redis-receive"},
        {"id": "done", "name": "tpl-redis-join"},
    ],
    "graph": {"receive": ["approval", "audit"], "approval": ["ship"], "ship": ["done"], "audit": ["done"]},
}


def make_registry() -> TaskRegistry:
    registry = TaskRegistry(parent=default_registry)

    @registry.register("tpl-redis-receive")
    def receive(event: TaskEvent) -> dict[str, Any]:
        return {"order": event.data["order"], "items": (1, 2)}  # a tuple comes back as a list

    @registry.register("tpl-redis-ship")
    async def ship(event: TaskEvent) -> str:
        return f"shipped by {event.config['carrier']} after {event.data['by']}"

    @registry.register("tpl-redis-join")
    def join(event: TaskEvent) -> list[Any]:
        return list(event.data)

    return registry


HostFactory = Callable[[], WorkflowHost]


@pytest.fixture
def make_host(redis_url: str, redis_cleanup: str) -> Iterator[HostFactory]:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    made: list[tuple[WorkflowHost, list[Any]]] = []

    def make() -> WorkflowHost:
        providers = [
            RedisPersistenceProvider(redis_url, prefix=redis_cleanup),
            RedisQueueProvider(redis_url, prefix=redis_cleanup),
            RedisLockProvider(redis_url, prefix=redis_cleanup),
        ]
        host = configure_workflow_host(*providers, poll_interval=0.1)
        host.load(WorkflowTemplate.from_dict(TEMPLATE, registry=make_registry()))
        made.append((host, providers))
        return host

    yield make
    for host, providers in made:
        host.stop()
        for provider in providers:
            provider.close()


def test_template_instance_survives_a_host_restart(make_host: HostFactory) -> None:
    first = make_host()
    first.start()
    wid = first.trigger("redis approval", {"order": "A-1"})
    assert wid is not None
    wait_until(lambda: is_waiting(first, wid) and "audit" in first.get_workflow_instance(wid).data["outputs"], WAIT)
    first.stop()

    second = make_host()  # a new process would do the same: register tasks, load the template, start
    second.start()
    assert second.data_received({"order": "A-2"}) == []  # policy "skip": the first instance still runs
    second.publish_event("approved", "A-1", {"by": "alice"})
    done = second.wait_for_workflow(wid, WAIT)
    assert done.status is WorkflowStatus.COMPLETE
    assert done.data["outputs"] == {
        "receive": {"order": "A-1", "items": [1, 2]},
        "audit": {"order": "A-1", "items": [1, 2]},
        "approval": {"by": "alice"},
        "ship": "shipped by bike after alice",
        "done": ["shipped by bike after alice", {"order": "A-1", "items": [1, 2]}],
    }
    assert len(second.data_received({"order": "A-3"})) == 1  # finished: the policy lets a new one start


def test_skip_policy_across_two_running_hosts(make_host: HostFactory) -> None:
    a, b = make_host(), make_host()
    a.start()
    b.start()
    (wid,) = a.data_received({"order": "B-1"})
    assert b.data_received({"order": "B-2"}) == [] and b.trigger("redis approval", {"order": "B-3"}) is None
    b.publish_event("approved", "B-1", {"by": "bob"})
    assert a.wait_for_workflow(wid, WAIT).status is WorkflowStatus.COMPLETE
    assert len(b.data_received({"order": "B-4"})) == 1


def test_output_that_cannot_be_stored_fails_the_task(make_host: HostFactory) -> None:
    host = make_host()
    registry = TaskRegistry(parent=default_registry)
    registry.add("tpl-redis-bad", lambda event: object())
    doc = {"title": "bad output", "tasks": [{"id": "bad", "name": "tpl-redis-bad"}], "graph": {}}
    host.load(WorkflowTemplate.from_dict(doc, registry=registry))
    host.start()
    wid = host.trigger("bad output", None)
    assert wid is not None
    host.wait_for_workflow(wid, WAIT)
    report = host.report(wid)
    assert report["state"] == "done" and report["tasks"][0]["state"] == "failed"
    assert "outputs.bad" in report["tasks"][0]["error"]
