"""A host keeps going through a Redis outage: it retries with backoff and finishes the work, once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlparse

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from tcp_proxy import TcpProxy

from liteflow.core import (
    PointerStatus,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowStatus,
    configure_workflow_host,
)
from liteflow.core.errors import ProviderError
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = pytest.mark.redis

RUNS: dict[str, int] = {}
FIRST_DONE = threading.Event()


class Count(StepBody):
    def __init__(self) -> None:
        self.tag = ""

    def run(self, context: StepExecutionContext) -> None:
        key = f"{context.workflow.id}:{self.tag}"
        RUNS[key] = RUNS.get(key, 0) + 1
        if self.tag == "first":
            FIRST_DONE.set()


class Outage(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Count)
            .input("tag", lambda d, c: "first")
            .delay(lambda d, c: timedelta(seconds=1))
            .then(Count)
            .input("tag", lambda d, c: "second")
        )


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    parsed = urlparse(redis_url)
    p = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379)
    yield p
    p.close()


def _host(url: str, prefix: str) -> object:
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=prefix),
        queue=RedisQueueProvider(url, prefix=prefix),
        lock=RedisLockProvider(url, prefix=prefix, lease=2.0),
        poll_interval=0.2,
        idle_wait=0.2,
    )
    host.register_workflow(Outage())
    return host


def test_losing_redis_mid_run_loses_and_duplicates_nothing(proxy: TcpProxy, redis_cleanup: str) -> None:
    RUNS.clear()
    FIRST_DONE.clear()
    worker = _host(proxy.url, redis_cleanup)
    client = _host(proxy.url.replace(f":{proxy.port}", ":6379"), redis_cleanup)  # the client talks to Redis directly
    worker.start()  # type: ignore[attr-defined]
    try:
        workflow_id = client.start_workflow("Outage")  # type: ignore[attr-defined]
        assert FIRST_DONE.wait(10)
        deadline = time.monotonic() + 10
        while not any(  # wait until the sleep is persisted, so no step is mid-flight when Redis goes
            p.status is PointerStatus.SLEEPING
            for p in client.get_workflow_instance(workflow_id).execution_pointers  # type: ignore[attr-defined]
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proxy.cut()  # the worker loses Redis while the workflow sleeps
        time.sleep(2.0)
        proxy.open()
        instance = client.wait_for_workflow(workflow_id, timeout=30)  # type: ignore[attr-defined]
    finally:
        worker.stop()  # type: ignore[attr-defined]
    assert instance.status is WorkflowStatus.COMPLETE
    assert {f"{workflow_id}:first": 1, f"{workflow_id}:second": 1} == RUNS


def test_a_host_started_while_redis_is_away_refuses_then_starts_when_it_returns(
    proxy: TcpProxy, redis_cleanup: str
) -> None:
    RUNS.clear()
    proxy.cut()
    worker = _host(proxy.url, redis_cleanup)
    with pytest.raises(ProviderError, match=f"127.0.0.1:{proxy.port}"):
        worker.start()  # type: ignore[attr-defined]
    assert not worker.is_running  # type: ignore[attr-defined]
    proxy.open()
    worker.start()  # type: ignore[attr-defined]
    try:
        client = _host(proxy.url, redis_cleanup)
        workflow_id = client.start_workflow("Outage")  # type: ignore[attr-defined]
        instance = client.wait_for_workflow(workflow_id, timeout=30)  # type: ignore[attr-defined]
    finally:
        worker.stop()  # type: ignore[attr-defined]
    assert instance.status is WorkflowStatus.COMPLETE
    assert {f"{workflow_id}:first": 1, f"{workflow_id}:second": 1} == RUNS


def test_a_store_check_the_server_missed_is_made_by_host_start(
    proxy: TcpProxy, redis_url: str, redis_cleanup: str
) -> None:
    """Redis away when the providers are made: their constructors do not fail, and host.start() checks the
    store once it answers: another shard count than the store's is refused there, the store's own opens."""
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup).close()  # the store: 16 shards
    proxy.cut()
    wrong = configure_workflow_host(persistence=f"{proxy.url}?shards=4", prefix=redis_cleanup)
    right = configure_workflow_host(persistence=proxy.url, prefix=redis_cleanup)
    proxy.open()
    try:
        with pytest.raises(ProviderError, match=r"persistence: .*was made with 16 shards .* opened with 4:"):
            wrong.start()
        assert not wrong.is_running
        right.start()
        assert right.is_running
    finally:
        right.stop()
        for host in (wrong, right):
            for provider in (host.persistence, host.queue, host.lock):
                provider.close()  # type: ignore[attr-defined]


def test_a_client_waiting_for_a_workflow_rides_through_losing_redis(proxy: TcpProxy, redis_cleanup: str) -> None:
    RUNS.clear()
    FIRST_DONE.clear()
    worker = _host(proxy.url.replace(f":{proxy.port}", ":6379"), redis_cleanup)  # the worker talks to Redis directly
    # the client's driver gives up at once (no retries of its own), so the blip reaches wait_for_workflow
    impatient = redis.Redis.from_url(proxy.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)
    client = configure_workflow_host(
        persistence=RedisPersistenceProvider(impatient, prefix=redis_cleanup),
        queue=RedisQueueProvider(impatient, prefix=redis_cleanup),
        lock=RedisLockProvider(impatient, prefix=redis_cleanup),
    )
    client.register_workflow(Outage())
    worker.start()  # type: ignore[attr-defined]
    try:
        workflow_id = client.start_workflow("Outage")  # type: ignore[attr-defined]
        outcome: list[object] = []

        def wait() -> None:
            try:
                outcome.append(client.wait_for_workflow(workflow_id, timeout=30))  # type: ignore[attr-defined]
            except Exception as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        assert FIRST_DONE.wait(10)
        proxy.cut()  # the client loses Redis while it waits (the workflow sleeps 1 s, then finishes)
        time.sleep(1.5)
        proxy.open()
        waiter.join(30)
    finally:
        worker.stop()  # type: ignore[attr-defined]
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert outcome[0].status is WorkflowStatus.COMPLETE  # type: ignore[attr-defined]
    impatient.close()
