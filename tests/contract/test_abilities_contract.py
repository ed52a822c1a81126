"""The optional provider abilities of ``liteflow.core.interfaces``, run against every provider that has one.

* ``SupportsRevision.get_revision``: None for an unknown id; the stored revision of an instance, also
  after each stored pass; None while a control request is pending (a host must load the instance then);
* ``SupportsLoadForRun.get_workflow_instance_to_run``: what ``get_workflow_instance`` loads (the same
  document), WorkflowNotFoundError for an unknown id;
* ``InterruptibleQueue.interrupt``: wakes a ``dequeue_work`` (and a ``dequeue_many``) blocked on an
  empty queue at once (it returns None, or nothing); the queue works as before afterwards;
* ``SupportsEventBatches``: each batched read answers what the single reads answer, in the order asked;
* ``SupportsWaitingReads.get_waiting_many``: the subscriptions ``get_subscriptions`` answers and the events
  ``get_events`` answers from the oldest of their as-of times (none without a subscription);
* ``BatchDequeue.dequeue_many``: up to ``most`` ids, oldest first, each taken once; waits for the first.

Which built-in provider has which ability is asserted too, so that an ability lost shows as a failure
rather than as a skipped test.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from liteflow.core.errors import WorkflowNotFoundError
from liteflow.core.interfaces import (
    BatchDequeue,
    InterruptibleQueue,
    QueueType,
    SupportsEventBatches,
    SupportsLoadForRun,
    SupportsRevision,
    SupportsWaitingReads,
)
from liteflow.core.models import Event, EventSubscription, WorkflowInstance
from liteflow.core.serialization import dump_instance

#: The abilities each built-in provider declares (the contract fixtures' ids).
PERSISTENCE_ABILITIES = {
    "memory": {SupportsRevision, SupportsLoadForRun},
    "redis": {SupportsRevision, SupportsEventBatches, SupportsWaitingReads},
    "redis-cluster": {SupportsRevision, SupportsEventBatches, SupportsWaitingReads},
    "mongo": {SupportsRevision},
    "sqlite": {SupportsRevision},
}
QUEUE_ABILITIES = {
    "memory": {InterruptibleQueue, BatchDequeue},
    "redis": {InterruptibleQueue, BatchDequeue},
    "redis-cluster": {InterruptibleQueue, BatchDequeue},
    "sqlite": {InterruptibleQueue},
}
PERSISTENCE_KINDS = (SupportsRevision, SupportsLoadForRun, SupportsEventBatches, SupportsWaitingReads)
QUEUE_KINDS = (InterruptibleQueue, BatchDequeue)


def _name(request: pytest.FixtureRequest, fixture: str) -> str:
    return str(request.node.callspec.params[fixture])


def _new(persistence: Any) -> WorkflowInstance:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    wf = WorkflowInstance(workflow_definition_id="Abilities", version=1, create_time=now, data={"n": 1})
    persistence.create_workflow(wf)
    return wf


def test_built_in_persistence_declares_its_abilities(persistence: Any, request: pytest.FixtureRequest) -> None:
    expected = PERSISTENCE_ABILITIES.get(_name(request, "persistence"))
    if expected is None:
        pytest.skip("not a built-in provider")
    found = {ability for ability in PERSISTENCE_KINDS if isinstance(persistence, ability)}
    assert found == expected


def test_built_in_queue_declares_its_abilities(queue: Any, request: pytest.FixtureRequest) -> None:
    expected = QUEUE_ABILITIES.get(_name(request, "queue"))
    if expected is None:
        pytest.skip("not a built-in provider")
    assert {ability for ability in QUEUE_KINDS if isinstance(queue, ability)} == expected


def test_get_revision_follows_the_stored_instance(persistence: Any) -> None:
    if not isinstance(persistence, SupportsRevision):
        pytest.skip("no SupportsRevision")
    assert persistence.get_revision("no-such-workflow") is None
    wf = _new(persistence)
    loaded = persistence.get_workflow_instance(wf.id)
    assert persistence.get_revision(wf.id) == loaded.revision
    for n in (2, 3):
        loaded.data = {"n": n}
        persistence.persist_workflow(loaded, [], [], None)
        stored = persistence.get_workflow_instance(wf.id)
        assert stored.data == {"n": n}
        assert persistence.get_revision(wf.id) == stored.revision == loaded.revision
        loaded = stored
    assert persistence.request_control(wf.id, None, '{"id":"r1","action":"suspend"}')
    assert persistence.get_revision(wf.id) is None  # a request pending: the instance must be loaded


def test_load_for_run_is_the_stored_instance(persistence: Any) -> None:
    if not isinstance(persistence, SupportsLoadForRun):
        pytest.skip("no SupportsLoadForRun")
    wf = _new(persistence)
    to_run = persistence.get_workflow_instance_to_run(wf.id)
    assert dump_instance(to_run) == dump_instance(persistence.get_workflow_instance(wf.id))
    to_run.data = {"n": 2}
    persistence.persist_workflow(to_run, [], [], None)
    assert persistence.get_workflow_instance(wf.id).data == {"n": 2}
    with pytest.raises(WorkflowNotFoundError):
        persistence.get_workflow_instance_to_run("no-such-workflow")


def test_interrupt_wakes_a_blocked_dequeue(queue: Any) -> None:
    if not isinstance(queue, InterruptibleQueue):
        pytest.skip("no InterruptibleQueue")
    got: list[Any] = []
    started = threading.Event()

    def take() -> None:
        started.set()
        got.append(queue.dequeue_work(QueueType.WORKFLOW, 30.0))

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    started.wait(5)
    begun = time.monotonic()
    while taker.is_alive() and time.monotonic() - begun < 20:  # until the taker is woken (it may not be
        queue.interrupt()  # blocked yet when the first interrupt comes)
        taker.join(0.2)
    assert not taker.is_alive() and got == [None]
    assert time.monotonic() - begun < 20
    queue.queue_work("after", QueueType.WORKFLOW)
    assert queue.dequeue_work(QueueType.WORKFLOW, 5.0) == "after"


def _subscribe(persistence: Any, t0: datetime, rows: list[tuple[str, str, int]]) -> None:
    """A subscription of workflow ``wf-<n>`` for each (name, key, seconds after ``t0``)."""
    for n, (name, key, seconds) in enumerate(rows):
        persistence.create_event_subscription(
            EventSubscription(
                workflow_id=f"wf-{n}",
                step_id=1,
                execution_pointer_id=f"p-{n}",
                event_name=name,
                event_key=key,
                subscribe_as_of=t0 + timedelta(seconds=seconds),
            )
        )


def test_event_batches_answer_as_the_single_reads(persistence: Any) -> None:
    if not isinstance(persistence, SupportsEventBatches):
        pytest.skip("no SupportsEventBatches")
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    events = [
        Event(event_name=name, event_key=key, event_time=t0 + timedelta(seconds=n), event_data={"n": n})
        for n, (name, key) in enumerate([("a", "1"), ("a", "1"), ("a", "2"), ("b", "1")])
    ]
    for event in events:
        persistence.create_event(event)
    persistence.mark_event_processed(events[1].id)
    _subscribe(persistence, t0, [("a", "1", 0), ("a", "1", 1), ("b", "1", 2)])
    ids = [events[3].id, "no-such-event", events[0].id, events[1].id]
    batched = persistence.get_events_by_id(ids)
    assert [None if e is None else e.model_dump() for e in batched] == [
        None if i == "no-such-event" else persistence.get_event(i).model_dump() for i in ids
    ]
    assert [e.is_processed for e in batched if e is not None] == [False, False, True]
    asked = [("a", "1", t0 + timedelta(seconds=5)), ("a", "1", t0), ("c", "1", t0), ("b", "1", t0 + timedelta(hours=1))]
    assert [[s.model_dump() for s in found] for found in persistence.get_subscriptions_many(asked)] == [
        [s.model_dump() for s in persistence.get_subscriptions(*query)] for query in asked
    ]
    assert [len(found) for found in persistence.get_subscriptions_many(asked)] == [2, 1, 0, 1]
    spans = [("a", "1", t0, t0 + timedelta(hours=1)), ("a", "2", t0, t0), ("b", "1", t0, t0 + timedelta(hours=1))]
    assert [[e.model_dump() for e in found] for found in persistence.get_events_many(spans)] == [
        [e.model_dump() for e in persistence.get_events(*span)] for span in spans
    ]
    assert [len(found) for found in persistence.get_events_many(spans)] == [2, 0, 1]
    assert persistence.get_events_by_id([]) == persistence.get_subscriptions_many([]) == []
    assert persistence.get_events_many([]) == []


def test_waiting_reads_answer_as_the_two_reads(persistence: Any) -> None:
    if not isinstance(persistence, SupportsWaitingReads):
        pytest.skip("no SupportsWaitingReads")
    t0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)  # microseconds kept in the scores
    events = [
        Event(event_name=name, event_key=key, event_time=t0 + timedelta(seconds=s), event_data={"n": n})
        for n, (name, key, s) in enumerate([("a", "1", -5), ("a", "1", 1), ("a", "1", 2), ("a", "2", 1), ("b", "1", 3)])
    ]
    # at the oldest subscription's very time, and a microsecond before it
    events += [Event(event_name="a", event_key="1", event_time=t0 + timedelta(microseconds=d)) for d in (0, -1)]
    for event in events:
        persistence.create_event(event)
    persistence.mark_event_processed(events[2].id)
    _subscribe(persistence, t0, [("a", "1", 1), ("a", "1", 0), ("a", "2", 2), ("a", "1", 10)])
    until = t0 + timedelta(hours=1)
    asked = [
        ("a", "1", t0 + timedelta(seconds=5), until),
        ("a", "2", t0 + timedelta(seconds=1), until),  # its subscription is newer than the event: none
        ("b", "1", t0 + timedelta(seconds=3), until),  # nobody waits: no events either
        ("a", "1", t0 + timedelta(seconds=5), t0 + timedelta(seconds=1)),  # until bounds the events
    ]
    expected = []
    for name, key, as_of, last in asked:
        subscriptions = persistence.get_subscriptions(name, key, as_of)
        since = min((s.subscribe_as_of for s in subscriptions), default=None)
        found = [] if since is None else persistence.get_events(name, key, since, last)
        expected.append(([s.model_dump() for s in subscriptions], [e.model_dump() for e in found]))
    answered = persistence.get_waiting_many(asked)
    assert [([s.model_dump() for s in subs], [e.model_dump() for e in found]) for subs, found in answered] == expected
    assert [(len(subs), len(found)) for subs, found in answered] == [(2, 3), (0, 0), (0, 0), (2, 2)]
    assert answered[0][1][0].id == events[5].id  # the one at the oldest as-of time, not the one before
    assert [e.is_processed for e in answered[0][1]] == [False, False, True]
    assert [s.workflow_id for s in answered[0][0]] == ["wf-1", "wf-0"]  # oldest first
    assert persistence.get_waiting_many([]) == []


def test_dequeue_many_takes_up_to_most_oldest_first(queue: Any) -> None:
    if not isinstance(queue, BatchDequeue):
        pytest.skip("no BatchDequeue")
    E = QueueType.EVENT
    for item in ("a", "b", "c", "d"):
        queue.queue_work(item, E)
    queue.queue_work("w", QueueType.WORKFLOW)
    assert queue.dequeue_many(E, 3, 1.0) == ["a", "b", "c"]
    assert queue.dequeue_many(E, 3, 1.0) == ["d"]
    begun = time.monotonic()
    assert queue.dequeue_many(E, 3, 0.2) == []
    assert 0.1 <= time.monotonic() - begun < 5.0
    assert queue.dequeue_many(E, 2, 0) == []
    queue.queue_work("a", E)  # taken ids may be queued again
    assert queue.dequeue_many(E, 1, 1.0) == ["a"]
    got: list[list[str]] = []
    taker = threading.Thread(target=lambda: got.append(queue.dequeue_many(E, 5, 10.0)))
    taker.start()
    time.sleep(0.2)
    queue.queue_work("late", E)
    taker.join(10)
    assert got == [["late"]]
    assert queue.dequeue_work(QueueType.WORKFLOW, 1.0) == "w"
