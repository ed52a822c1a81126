"""What a host keeps must go when it is no longer needed: subscriptions and errors of purged instances,
and (with ``event_retention``) processed events."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from support import WAIT, make_host, wait_until

from liteflow.core import *
from liteflow.core.models import utcnow
from liteflow.providers.memory import MemoryPersistenceProvider

ENTERED = threading.Event()
RELEASE = threading.Event()
FAR = timedelta(days=3650)


class Long(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        ENTERED.set()
        assert RELEASE.wait(WAIT * 4)


class SubscribesWhileBusy(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .parallel()
            .do(lambda b: b.start_with(lambda context: None).then(Long))
            .do(lambda b: b.wait_for("never", lambda data, context: "k-leak"))
            .join()
        )


class Flaky(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        raise RuntimeError("downstream 503")


class FailsThenEnds(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Flaky).on_error(
            ErrorBehavior.RETRY, timedelta(milliseconds=1), max_retries=4, then=ErrorBehavior.TERMINATE
        )


def _subscriptions_of(host: WorkflowHost, wid: str) -> list[Any]:
    found = host.persistence.get_subscriptions("never", "k-leak", utcnow() + FAR)
    return [s for s in found if s.workflow_id == wid]


def test_purging_a_workflow_terminated_during_a_subscribing_pass_leaves_no_subscription(host: WorkflowHost) -> None:
    ENTERED.clear()
    RELEASE.clear()
    host.register_workflow(SubscribesWhileBusy())
    host.start()
    wid = host.start_workflow("SubscribesWhileBusy")
    try:
        assert ENTERED.wait(WAIT)
        assert host.terminate_workflow(wid)
    finally:
        RELEASE.set()
    assert host.wait_for_workflow(wid, timeout=WAIT * 2).status is WorkflowStatus.TERMINATED

    assert host.purge_workflows(WorkflowStatus.TERMINATED, utcnow() + timedelta(seconds=1)) == 1

    assert _subscriptions_of(host, wid) == []


def test_purging_workflows_drops_their_error_records(host: WorkflowHost) -> None:
    host.register_workflow(FailsThenEnds())
    host.start()
    ids = [host.start_workflow("FailsThenEnds") for _ in range(5)]
    for wid in ids:
        assert host.wait_for_workflow(wid, timeout=WAIT * 2).status is WorkflowStatus.TERMINATED
    assert all(len(host.get_errors(wid)) == 5 for wid in ids)

    assert host.purge_workflows(WorkflowStatus.TERMINATED, utcnow() + timedelta(seconds=1)) == 5

    assert all(host.get_errors(wid) == [] for wid in ids)


class CountingId(str):
    """A workflow id that counts how often it is compared: how many records a lookup looked at."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingId.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_memory_errors_are_found_without_scanning_every_record() -> None:
    persistence = MemoryPersistenceProvider()
    for n in range(2000):
        error = ExecutionError(workflow_id=f"wf-{n % 200}", execution_pointer_id="p", error_time=utcnow(), message="x")
        persistence.persist_errors([error])
    CountingId.comparisons = 0

    found = persistence.get_errors(CountingId("wf-7"))

    assert len(found) == 10 and {e.workflow_id for e in found} == {"wf-7"}
    assert CountingId.comparisons < 10  # an index lookup, not one comparison per record held


# -- event retention ------------------------------------------------------------------------------------
def test_a_started_host_with_event_retention_purges_old_processed_events() -> None:
    host = make_host(event_retention=timedelta(minutes=10), purge_interval=0.05)
    long_ago = utcnow() - timedelta(hours=1)
    old = [host.publish_event("audit", f"k{n}", n, effective_date=long_ago) for n in range(3)]
    recent = host.publish_event("audit", "k-recent", "kept")
    with host:

        def gone() -> bool:
            for event_id in old:
                try:
                    host.persistence.get_event(event_id)
                    return False
                except KeyError:
                    continue
            return True

        wait_until(gone, timeout=WAIT * 2)
        assert host.persistence.get_event(recent).is_processed  # processed, but young: kept


def test_event_retention_is_off_by_default_and_rounds_are_bounded() -> None:
    calls: list[Any] = []

    class Spy(MemoryPersistenceProvider):
        def purge_events(self, older_than: Any, limit: int | None = None) -> int:
            calls.append(limit)
            return super().purge_events(older_than, limit)

    default = make_host(Spy())
    assert default.options.event_retention is None
    with default:
        default.publish_event("audit", "k", effective_date=utcnow() - timedelta(days=30))
        wait_until(lambda: not default.persistence.get_runnable_events(utcnow()))
    assert calls == []  # nothing is deleted unless asked

    bounded = make_host(Spy(), event_retention=timedelta(seconds=5), purge_interval=0.05)
    with bounded:
        wait_until(lambda: len(calls) >= 2)
    assert calls and all(limit == 1000 for limit in calls)


def test_event_retention_is_checked() -> None:
    with pytest.raises(ValueError, match="event_retention"):
        make_host(event_retention=timedelta(0))
    assert make_host(event_retention=3600).options.event_retention == timedelta(hours=1)
