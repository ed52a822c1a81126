"""host.start() checks once that the providers answer; waits ride through blips; stop() names what it left running."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import HealthCheck
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider


class Nothing(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None)


class WaitsForGo(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).wait_for("go", lambda data, context: "k")


# -- the start-up check ---------------------------------------------------------------------------------
def _redis_providers(url: str) -> dict[str, Any]:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    return {
        "persistence": RedisPersistenceProvider(url),
        "queue": RedisQueueProvider(url),
        "lock": RedisLockProvider(url),
    }


def test_start_against_a_closed_redis_port_raises_naming_the_store_without_its_password() -> None:
    host = configure_workflow_host(**_redis_providers("redis://app:secret@127.0.0.1:1/0"), start_timeout=3)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        host.start()
    assert time.monotonic() - started < 6.0
    message = str(info.value)
    assert "redis://app:***@127.0.0.1:1/0" in message and "secret" not in message
    assert all(role in message for role in ("persistence", "queue", "lock"))
    assert not host.is_running


def test_start_names_only_the_store_that_does_not_answer(redis_url: str, redis_cleanup: str) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(redis_url, prefix=redis_cleanup),
        queue=RedisQueueProvider(redis_url, prefix=redis_cleanup),
        lock=RedisLockProvider("redis://127.0.0.1:1/0", prefix=redis_cleanup),
    )
    with pytest.raises(ProviderError, match=r"lock: Redis at redis://127\.0\.0\.1:1/0") as info:
        host.start()
    assert "persistence" not in str(info.value) and "queue" not in str(info.value)


def test_start_against_a_live_redis_runs_work(redis_url: str, redis_cleanup: str) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(redis_url, prefix=redis_cleanup),
        queue=RedisQueueProvider(redis_url, prefix=redis_cleanup),
        lock=RedisLockProvider(redis_url, prefix=redis_cleanup),
    )
    host.register_workflow(Nothing())
    with host:
        wid = host.start_workflow("Nothing")
        assert host.wait_for_workflow(wid, timeout=30).status is WorkflowStatus.COMPLETE


@pytest.mark.mongo
def test_an_unreachable_mongodb_fails_start_within_the_timeout() -> None:
    from liteflow.providers.mongo import MongoPersistenceProvider

    made = time.monotonic()
    persistence = MongoPersistenceProvider("mongodb://ops:hunter2@127.0.0.1:1/")  # a real pymongo client
    assert time.monotonic() - made < 1.0  # the constructor sends nothing
    host = configure_workflow_host(persistence=persistence, start_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        host.start()
    assert time.monotonic() - started < 5.0
    message = str(info.value)
    assert "persistence" in message and "mongodb://ops:***@127.0.0.1:1/" in message and "hunter2" not in message
    assert not host.is_running
    persistence.close()


class Hangs:
    """A store that never answers its ping (a black-holed address)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def describe(self) -> str:
        return "queue://black-hole"

    def ping(self, timeout: float) -> None:
        self.release.wait(60)

    def queue_work(self, item_id: str, queue: QueueType) -> None: ...

    def dequeue_work(self, queue: QueueType, timeout: float) -> str | None:
        return None

    def close(self) -> None: ...


def test_a_ping_that_hangs_is_abandoned_after_start_timeout() -> None:
    queue = Hangs()
    host = configure_workflow_host(queue=queue, start_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError, match=r"queue store queue://black-hole did not answer within 0\.5s"):
            host.start()
        assert time.monotonic() - started < 3.0
    finally:
        queue.release.set()


def test_a_provider_without_the_health_check_is_taken_as_it_is() -> None:
    class Plain:
        def queue_work(self, item_id: str, queue: QueueType) -> None: ...

        def dequeue_work(self, queue: QueueType, timeout: float) -> str | None:
            return None

        def close(self) -> None: ...

    assert not isinstance(Plain(), HealthCheck)
    host = configure_workflow_host(queue=Plain())
    host.start()
    try:
        assert host.is_running
    finally:
        host.stop()


@pytest.mark.parametrize(
    "make",
    [
        MemoryPersistenceProvider,
        MemoryQueueProvider,
        MemoryLockProvider,
        lambda: _redis_providers("redis://127.0.0.1:1/0")["persistence"],
        lambda: _redis_providers("redis://127.0.0.1:1/0")["queue"],
        lambda: _redis_providers("redis://127.0.0.1:1/0")["lock"],
    ],
)
def test_every_built_in_provider_has_the_health_check(make: Any) -> None:
    provider = make()
    assert isinstance(provider, HealthCheck)
    assert provider.describe()
    provider.close()


# -- wait_for_workflow ----------------------------------------------------------------------------------
class FailingReads(MemoryPersistenceProvider):
    """Memory persistence whose instance reads fail while ``failing`` is set (the store briefly away)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = threading.Event()
        self.failed_reads = 0

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        if self.failing.is_set():
            self.failed_reads += 1
            raise ProviderError("store away")
        return super().get_workflow_instance(workflow_id)


def test_wait_for_workflow_keeps_trying_through_failed_reads() -> None:
    persistence = FailingReads()
    worker = configure_workflow_host(persistence=persistence)
    worker.register_workflow(WaitsForGo())
    client = configure_workflow_host(persistence=persistence, queue=worker.queue, lock=worker.lock)
    client.register_workflow(WaitsForGo())
    with worker:
        wid = client.start_workflow("WaitsForGo")
        persistence.failing.set()
        outcome: list[Any] = []
        waiter = threading.Thread(target=lambda: outcome.append(_wait(client, wid, 30)))
        waiter.start()
        deadline = time.monotonic() + 10
        while persistence.failed_reads < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert persistence.failed_reads >= 2  # the waiter saw the store away, and kept going
        worker.publish_event("go", "k")
        persistence.failing.clear()
        waiter.join(30)
    assert outcome and isinstance(outcome[0], WorkflowInstance), outcome
    assert outcome[0].status is WorkflowStatus.COMPLETE


def _wait(host: WorkflowHost, wid: str, timeout: float | None) -> Any:
    try:
        return host.wait_for_workflow(wid, timeout=timeout)
    except Exception as exc:
        return exc


def test_wait_for_workflow_times_out_when_reads_keep_failing() -> None:
    persistence = FailingReads()
    host = configure_workflow_host(persistence=persistence)
    host.register_workflow(WaitsForGo())
    wid = host.start_workflow("WaitsForGo")
    persistence.failing.set()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="could not be read") as info:
        host.wait_for_workflow(wid, timeout=0.5)
    assert 0.4 < time.monotonic() - started < 5.0
    assert isinstance(info.value.__cause__, ProviderError)
    assert persistence.failed_reads < 50  # backed off, not a busy loop


def test_wait_for_workflow_without_a_timeout_waits_for_the_end() -> None:
    host = configure_workflow_host()
    host.register_workflow(WaitsForGo())
    with host:
        wid = host.start_workflow("WaitsForGo")
        outcome: list[Any] = []
        waiter = threading.Thread(target=lambda: outcome.append(_wait(host, wid, None)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and not outcome  # still waiting: no limit, no error
        host.publish_event("go", "k")
        waiter.join(30)
    assert outcome and isinstance(outcome[0], WorkflowInstance), outcome
    assert outcome[0].status is WorkflowStatus.COMPLETE


def test_wait_for_an_unknown_workflow_raises_at_once() -> None:
    host = configure_workflow_host()
    with pytest.raises(WorkflowNotFoundError):
        host.wait_for_workflow("no-such-id", timeout=None)


# -- stop() ----------------------------------------------------------------------------------------------
BLOCKED = threading.Event()
UNBLOCK = threading.Event()


class Stuck(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        BLOCKED.set()
        UNBLOCK.wait(30)


class StuckWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).then(Stuck)


def test_stop_timeout_warning_names_the_workflow_and_step_still_running(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="liteflow")
    BLOCKED.clear()
    UNBLOCK.clear()
    host = configure_workflow_host(stop_timeout=0.3, max_concurrent_workflows=1)
    host.register_workflow(StuckWorkflow())
    host.start()
    wid = host.start_workflow("StuckWorkflow")
    try:
        assert BLOCKED.wait(10)
        host.stop()
    finally:
        UNBLOCK.set()
    warnings = [r.getMessage() for r in caplog.records if "host.stop_timeout" in r.getMessage()]
    named = [m for m in warnings if f"workflow_id='{wid}'" in m]
    assert len(named) == 1, warnings
    assert "step='Stuck'" in named[0] and "definition_id='StuckWorkflow'" in named[0] and "step_id=1" in named[0]
