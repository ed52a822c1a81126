"""A pass whose store is unreachable keeps its lock and is stored once the store answers again (for up to
``persist_retry_timeout``), so its steps do not run twice; a write sent again after its answer was lost
is recognised by the Redis provider."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pytest
from event_waits import WaitsForGo
from redis_faults import lose_replies

from liteflow.core import StepExecutionContext, Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.errors import ConcurrencyError, ProviderError
from liteflow.core.models import Event, EventSubscription, WorkflowInstance
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider
from liteflow.providers.redis import RedisPersistenceProvider


class Unreachable(MemoryPersistenceProvider):
    """A store that can be made unreachable for persists for a while (as Redis restarting would be)."""

    def __init__(self) -> None:
        super().__init__()
        self.back_at = 0.0
        self.refused = 0

    def go_away(self, seconds: float) -> None:
        self.back_at = time.monotonic() + seconds

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        if time.monotonic() < self.back_at:
            self.refused += 1
            raise ProviderError("redis persist_workflow failed: Connection refused (simulated)")
        super().persist_workflow(instance, subscriptions, ended_subscriptions, control_applied)


class ReadsFailing(MemoryPersistenceProvider):
    """A store whose next ``failing`` reads of events fail (as a cross-shard read does while a Redis
    Cluster master is being replaced)."""

    def __init__(self, failing: int) -> None:
        super().__init__()
        self.failing = failing
        self.refused = 0

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        if self.refused < self.failing:
            self.refused += 1
            raise ProviderError("redis get_events failed: Connection refused (simulated)")
        return super().get_events(event_name, event_key, since, until)


RUNS: list[str] = []
OUTAGE: dict[str, Any] = {}


def first(context: StepExecutionContext) -> None:
    RUNS.append("first")
    if len(RUNS) == 1:
        OUTAGE["store"].go_away(OUTAGE["seconds"])  # the store goes away while the step runs


class TwoSteps(Workflow):
    def id(self) -> str:
        return "TwoSteps"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(first).then(lambda context: RUNS.append("second"))


@pytest.fixture
def store() -> Iterator[Unreachable]:
    RUNS.clear()
    OUTAGE.clear()
    store = Unreachable()
    OUTAGE["store"] = store
    yield store


def host_on(store: Unreachable, **options: Any) -> Any:
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(lease=1.0), **options)
    host.register_workflow(TwoSteps())
    return host


def test_a_pass_is_stored_once_the_store_answers_again_and_no_step_runs_twice(store: Unreachable) -> None:
    OUTAGE["seconds"] = 0.8
    host = host_on(store, poll_interval=0.1)
    host.start()
    try:
        wid = host.start_workflow("TwoSteps")
        instance = host.wait_for_workflow(wid, timeout=10)
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE
    assert store.refused >= 2  # it was tried again, not given up
    assert RUNS == ["first", "second"]


def test_a_pass_is_given_up_after_persist_retry_timeout_and_its_step_runs_again(store: Unreachable) -> None:
    OUTAGE["seconds"] = 1.0
    host = host_on(store, poll_interval=0.1, persist_retry_timeout=0.2)
    host.start()
    try:
        wid = host.start_workflow("TwoSteps")
        instance = host.wait_for_workflow(wid, timeout=10)
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE
    # at least once: each pass given up while the store was away ran again
    assert RUNS.count("first") >= 2 and RUNS[-1] == "second" and RUNS.count("second") == 1


def test_stop_ends_a_worker_waiting_for_the_store_at_once(store: Unreachable) -> None:
    OUTAGE["seconds"] = 60.0
    host = host_on(store, poll_interval=0.1)
    host.start()
    stopped = threading.Event()
    try:
        host.start_workflow("TwoSteps")
        deadline = time.monotonic() + 5
        while store.refused < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.refused >= 2
    finally:
        began = time.monotonic()
        host.stop()
        stopped.set()
    assert time.monotonic() - began < 3  # not persist_retry_timeout (60 s), nor stop_timeout (30 s)


def test_an_event_processed_before_the_subscription_reaches_it_though_the_pull_fails_for_a_while() -> None:
    """The event consumer marked the event processed before the workflow subscribed (nobody waited yet):
    only the worker's pull after storing the subscription can deliver it, so the pull rides out the
    failing reads instead of leaving the workflow waiting for ever."""
    store = ReadsFailing(failing=3)
    host = configure_workflow_host(store, MemoryQueueProvider(), MemoryLockProvider(lease=1.0), poll_interval=0.1)
    host.register_workflow(WaitsForGo())
    wid = host.start_workflow("WaitsForGo", None, {"received": None})  # queued; no worker runs it yet
    event_id = host.publish_event("go", "k", "payload")
    store.mark_event_processed(event_id)  # what the event consumer does when nobody waits for it
    host.start()
    try:
        instance = host.wait_for_workflow(wid, timeout=10)
    finally:
        host.stop()
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["received"] == "payload"
    assert store.refused == 3  # the pull's reads failed, and it carried on once they answered


@pytest.mark.redis
def test_a_redis_persist_sent_again_after_its_answer_was_lost_succeeds(
    redis_url: str, redis_cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write and its resend on a fresh connection were both run, their answers lost: the caller sees
    a ProviderError and sends the same write again, which finds its own token."""
    store = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    try:
        instance = WorkflowInstance(workflow_definition_id="x", version=1, data={"n": 0})
        store.create_workflow(instance)
        instance.data = {"n": 1}
        lose = lose_replies(monkeypatch, b"wf:")
        lose(2)
        with pytest.raises(ProviderError):
            store.persist_workflow(instance)
        assert instance.revision == 1
        store.persist_workflow(instance)  # the pass's write, sent again
        assert instance.revision == 2
        stored = store.get_workflow_instance(instance.id)
        assert (stored.revision, stored.data) == (2, {"n": 1})
        instance.data = {"n": 2}
        store.persist_workflow(instance)  # the next write is a new one: a stale copy cannot pass for it
        assert store.get_workflow_instance(instance.id).revision == 3
    finally:
        store.close()


@pytest.mark.redis
def test_a_different_write_after_a_lost_answer_is_not_taken_for_the_stored_one(
    redis_url: str, redis_cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    try:
        instance = WorkflowInstance(workflow_definition_id="x", version=1, data={"n": 0})
        store.create_workflow(instance)
        instance.data = {"n": 1}
        lose_replies(monkeypatch, b"wf:")(2)
        with pytest.raises(ProviderError):
            store.persist_workflow(instance)  # stored, but the caller never heard
        instance.data = {"n": 2}  # the caller changes the instance and tries its own compare-and-set
        with pytest.raises(ConcurrencyError):
            store.persist_workflow(instance)
        assert store.get_workflow_instance(instance.id).data == {"n": 1}
    finally:
        store.close()
