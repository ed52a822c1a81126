"""RedisPersistenceProvider against a real Redis: compare-and-set, indexes, ordering, purge, JSON storage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from liteflow.core.errors import ConcurrencyError, WorkflowNotFoundError
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    to_millis,
    utcnow,
)
from liteflow.providers.redis import RedisPersistenceProvider
from liteflow.providers.redis.shards import Shards

pytestmark = pytest.mark.redis

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
T0_TEXT = "2030-01-01T12:00:00Z"  # a datetime inside workflow data is stored as ISO 8601 text, UTC as "Z"


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def store(redis_url: str, redis_cleanup: str) -> Iterator[RedisPersistenceProvider]:
    provider = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    yield provider
    provider.close()


def make_instance(**fields: Any) -> WorkflowInstance:
    fields.setdefault("workflow_definition_id", "Flow")
    fields.setdefault("version", 1)
    fields.setdefault("execution_pointers", [ExecutionPointer(step_id=0)])
    return WorkflowInstance(**fields)


def make_subscription(workflow_id: str, as_of: datetime, name: str = "ev", key: str = "k") -> EventSubscription:
    return EventSubscription(
        workflow_id=workflow_id,
        step_id=1,
        execution_pointer_id="pointer",
        event_name=name,
        event_key=key,
        subscribe_as_of=as_of,
    )


def keys_of(raw: redis.Redis, prefix: str) -> set[str]:
    return {k.decode() for k in raw.scan_iter(match=prefix + "*")}


# -- compare-and-set -------------------------------------------------------------------------------------
def test_create_sets_revision_one_and_persist_increments(store: RedisPersistenceProvider) -> None:
    instance = make_instance()
    store.create_workflow(instance)
    assert instance.revision == 1
    store.persist_workflow(instance)
    store.persist_workflow(instance)
    assert instance.revision == 3
    assert store.get_workflow_instance(instance.id).revision == 3


def test_cas_conflict_raises_and_stores_nothing(store: RedisPersistenceProvider, redis_cleanup: str) -> None:
    instance = make_instance(data={"n": 0})
    store.create_workflow(instance)
    first = store.get_workflow_instance(instance.id)
    stale = store.get_workflow_instance(instance.id)

    first.data = {"n": 1}
    store.persist_workflow(first)

    stale.data = {"n": 2}
    stale.status = WorkflowStatus.COMPLETE
    stale.complete_time = T0
    late_subscription = make_subscription(instance.id, T0)
    with pytest.raises(ConcurrencyError) as caught:
        store.persist_workflow(stale, [late_subscription])
    assert caught.value.workflow_id == instance.id
    assert stale.revision == 1  # unchanged: the caller may reload and retry

    stored = store.get_workflow_instance(instance.id)
    assert stored.data == {"n": 1} and stored.revision == 2 and stored.status == WorkflowStatus.RUNNABLE
    assert store.get_subscriptions("ev", "k", T0 + timedelta(days=1)) == []
    assert store.purge_workflows(WorkflowStatus.COMPLETE, T0 + timedelta(days=1)) == 0


def test_persist_unknown_instance_raises_not_found_and_stores_nothing(
    store: RedisPersistenceProvider, raw: redis.Redis, redis_cleanup: str
) -> None:
    ghost = make_instance(revision=1)
    before = keys_of(raw, redis_cleanup)  # the store's own record of its shard count, nothing else
    assert before == {redis_cleanup + "meta:shards"}
    with pytest.raises(WorkflowNotFoundError):
        store.persist_workflow(ghost, [make_subscription(ghost.id, T0)])
    assert keys_of(raw, redis_cleanup) == before
    with pytest.raises(WorkflowNotFoundError):
        store.get_workflow_instance(ghost.id)


def test_concurrent_persists_of_one_revision_let_exactly_one_win(store: RedisPersistenceProvider) -> None:
    instance = make_instance()
    store.create_workflow(instance)
    copies = [store.get_workflow_instance(instance.id) for _ in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(copies))

    def persist(copy: WorkflowInstance) -> None:
        barrier.wait()
        try:
            store.persist_workflow(copy)
            outcomes.append("ok")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=persist, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert store.get_workflow_instance(instance.id).revision == 2


# -- documents -------------------------------------------------------------------------------------------
def test_documents_are_json_and_data_stays_json(
    store: RedisPersistenceProvider, raw: redis.Redis, redis_cleanup: str
) -> None:
    instance = make_instance(data={"name": "ada", "tags": ["x"], "when": T0})
    instance.execution_pointers[0].persistence_data = {"i": 3}
    store.create_workflow(instance)
    document = json.loads(raw.hget(f"{Shards(redis_cleanup).base(instance.id)}wf:{instance.id}", "doc"))  # type: ignore[arg-type]
    assert document["id"] == instance.id and document["revision"] == 1
    assert document["data"] == {"name": "ada", "tags": ["x"], "when": T0_TEXT}
    loaded = store.get_workflow_instance(instance.id)
    assert loaded.data == {"name": "ada", "tags": ["x"], "when": T0_TEXT}
    assert loaded.execution_pointers[0].persistence_data == {"i": 3}
    assert loaded.create_time == instance.create_time


def test_every_key_starts_with_the_prefix(
    store: RedisPersistenceProvider, raw: redis.Redis, redis_cleanup: str
) -> None:
    instance = make_instance()
    store.create_workflow(instance)
    store.persist_workflow(instance, [make_subscription(instance.id, T0)])
    store.create_event(Event(event_name="ev", event_key="k", event_time=T0))
    store.persist_errors([ExecutionError(workflow_id=instance.id, execution_pointer_id="p", message="boom")])
    found = keys_of(raw, redis_cleanup)
    assert len(found) >= 8
    assert all(k.startswith(redis_cleanup) for k in found)


def test_get_workflow_instances_keeps_order_and_skips_unknown(store: RedisPersistenceProvider) -> None:
    a, b = make_instance(), make_instance()
    store.create_workflow(a)
    store.create_workflow(b)
    found = store.get_workflow_instances([b.id, "nope", a.id])
    assert [i.id for i in found] == [b.id, a.id]
    assert store.get_workflow_instances([]) == []


# -- runnable index --------------------------------------------------------------------------------------
def test_runnable_index_follows_status_and_next_execution(store: RedisPersistenceProvider) -> None:
    now = utcnow()
    instance = make_instance(next_execution=to_millis(now))
    store.create_workflow(instance)
    assert store.get_runnable_instances(now) == [instance.id]
    assert store.get_runnable_instances(now - timedelta(seconds=1)) == []

    instance.next_execution = to_millis(now + timedelta(minutes=5))  # asleep
    store.persist_workflow(instance)
    assert store.get_runnable_instances(now) == []
    assert store.get_runnable_instances(now + timedelta(minutes=5)) == [instance.id]

    instance.next_execution = None  # only waits for events
    store.persist_workflow(instance)
    assert store.get_runnable_instances(now + timedelta(days=1)) == []

    instance.next_execution = to_millis(now)
    instance.status = WorkflowStatus.SUSPENDED
    store.persist_workflow(instance)
    assert store.get_runnable_instances(now) == []

    instance.status = WorkflowStatus.RUNNABLE  # resumed
    store.persist_workflow(instance)
    assert store.get_runnable_instances(now) == [instance.id]

    instance.status = WorkflowStatus.COMPLETE
    instance.complete_time = now
    store.persist_workflow(instance)
    assert store.get_runnable_instances(now + timedelta(days=1)) == []


def test_runnable_instances_are_ordered_by_next_execution_and_accept_naive_times(
    store: RedisPersistenceProvider,
) -> None:
    late, early = make_instance(next_execution=to_millis(T0)), make_instance(next_execution=to_millis(T0) - 5)
    store.create_workflow(late)
    store.create_workflow(early)
    naive = T0.replace(tzinfo=None)  # taken as UTC
    assert store.get_runnable_instances(naive) == [early.id, late.id]


# -- subscriptions ---------------------------------------------------------------------------------------
def test_subscriptions_oldest_first_filtered_by_as_of(store: RedisPersistenceProvider) -> None:
    later = make_subscription("w1", T0 + timedelta(seconds=2))
    first = make_subscription("w2", T0)
    middle = make_subscription("w3", T0 + timedelta(seconds=1))
    for subscription in (later, first, middle):
        store.create_event_subscription(subscription)
    store.create_event_subscription(make_subscription("w4", T0, key="other"))

    found = store.get_subscriptions("ev", "k", T0 + timedelta(seconds=1))
    assert [s.id for s in found] == [first.id, middle.id]
    assert found[0] == first
    assert [s.id for s in store.get_subscriptions("ev", "k", T0 + timedelta(days=1))] == [
        first.id,
        middle.id,
        later.id,
    ]
    assert store.get_subscriptions("ev", "k", T0 - timedelta(microseconds=1)) == []


def test_subscription_as_of_is_compared_to_the_microsecond(store: RedisPersistenceProvider) -> None:
    at = T0 + timedelta(microseconds=500)
    subscription = make_subscription("w", at)
    store.create_event_subscription(subscription)
    assert store.get_subscriptions("ev", "k", T0 + timedelta(microseconds=499)) == []
    assert [s.id for s in store.get_subscriptions("ev", "k", at)] == [subscription.id]


def test_names_and_keys_with_colons_do_not_collide(store: RedisPersistenceProvider) -> None:
    one = make_subscription("w1", T0, name="a:b", key="c")
    two = make_subscription("w2", T0, name="a", key="b:c")
    store.create_event_subscription(one)
    store.create_event_subscription(two)
    assert [s.id for s in store.get_subscriptions("a:b", "c", T0)] == [one.id]
    assert [s.id for s in store.get_subscriptions("a", "b:c", T0)] == [two.id]


def test_persist_upserts_subscriptions_by_id_and_terminate_removes(store: RedisPersistenceProvider) -> None:
    instance = make_instance()
    store.create_workflow(instance)
    subscription = make_subscription(instance.id, T0)
    store.persist_workflow(instance, [subscription])
    store.persist_workflow(instance, [subscription])
    assert [s.id for s in store.get_subscriptions("ev", "k", T0)] == [subscription.id]

    moved = subscription.model_copy(update={"event_key": "k2"})
    store.create_event_subscription(moved)
    assert store.get_subscriptions("ev", "k", T0) == []
    assert [s.event_key for s in store.get_subscriptions("ev", "k2", T0)] == ["k2"]

    store.terminate_subscription(subscription.id)
    store.terminate_subscription(subscription.id)  # twice is harmless
    assert store.get_subscriptions("ev", "k2", T0) == []


def test_terminate_subscription_given_its_instance_tells_only_that_shard(store: RedisPersistenceProvider) -> None:
    shards = Shards("")
    first = make_instance()
    other = next(f"w{i}" for i in range(100) if shards.of(f"w{i}") != shards.of(first.id))
    store.create_workflow(first)
    subscription = make_subscription(first.id, T0)
    store.create_event_subscription(subscription)
    store.terminate_subscription(subscription.id, workflow_id=other)  # another shard: not there
    assert [s.id for s in store.get_subscriptions("ev", "k", T0)] == [subscription.id]
    store.terminate_subscription(subscription.id, workflow_id=first.id)
    assert store.get_subscriptions("ev", "k", T0) == []


# -- events ----------------------------------------------------------------------------------------------
def test_events_oldest_first_within_inclusive_bounds(store: RedisPersistenceProvider) -> None:
    times = [T0 + timedelta(seconds=s) for s in (3, 1, 2, 0)]
    events = [Event(event_name="ev", event_key="k", event_time=t) for t in times]
    for event in events:
        store.create_event(event)
    store.create_event(Event(event_name="ev", event_key="other", event_time=T0 + timedelta(seconds=1)))

    found = store.get_events("ev", "k", T0 + timedelta(seconds=1), T0 + timedelta(seconds=3))
    assert [e.event_time for e in found] == [T0 + timedelta(seconds=s) for s in (1, 2, 3)]
    assert store.get_events("ev", "k", T0 + timedelta(seconds=4), T0 + timedelta(seconds=9)) == []


def test_event_round_trip_and_processed_flag(store: RedisPersistenceProvider) -> None:
    event = Event(event_name="ev", event_key="k", event_data={"x": [1, 2]}, event_time=T0)
    store.create_event(event)
    assert store.get_event(event.id) == event
    assert store.get_runnable_events(T0) == [event.id]
    assert store.get_runnable_events(T0 - timedelta(microseconds=1)) == []

    store.mark_event_processed(event.id)
    assert store.get_event(event.id).is_processed
    assert store.get_events("ev", "k", T0, T0)[0].is_processed
    assert store.get_runnable_events(T0 + timedelta(days=1)) == []

    store.mark_event_unprocessed(event.id)
    assert not store.get_event(event.id).is_processed
    assert store.get_runnable_events(T0) == [event.id]

    store.mark_event_unprocessed("unknown")  # neither raises nor invents an event
    store.mark_event_processed("unknown")
    assert store.get_runnable_events(T0 + timedelta(days=1)) == [event.id]
    with pytest.raises(KeyError):
        store.get_event("unknown")


def test_runnable_events_oldest_first(store: RedisPersistenceProvider) -> None:
    newer = Event(event_name="a", event_key="1", event_time=T0 + timedelta(seconds=1))
    older = Event(event_name="b", event_key="2", event_time=T0)
    store.create_event(newer)
    store.create_event(older)
    assert store.get_runnable_events(T0 + timedelta(seconds=1)) == [older.id, newer.id]


# -- errors ----------------------------------------------------------------------------------------------
def test_errors_are_kept_per_workflow_in_order(store: RedisPersistenceProvider) -> None:
    errors = [ExecutionError(workflow_id="w1", execution_pointer_id="p", message=f"e{i}") for i in range(3)]
    store.persist_errors(errors[:2])
    store.persist_errors([ExecutionError(workflow_id="w2", execution_pointer_id="p", message="other")])
    store.persist_errors(errors[2:])
    store.persist_errors([])
    assert [e.message for e in store.get_errors("w1")] == ["e0", "e1", "e2"]
    assert store.get_errors("w1")[0] == errors[0]
    assert store.get_errors("nobody") == []


def test_the_errors_of_several_workflows_are_stored_in_one_transaction(
    store: RedisPersistenceProvider, raw: redis.Redis, redis_cleanup: str
) -> None:
    """On one server the RPUSHes go in one MULTI/EXEC (all or none: a resend after a dropped connection
    cannot store some twice), as MONITOR shows them on the wire."""
    errors = [ExecutionError(workflow_id=f"w{i}", execution_pointer_id="p", message="boom") for i in range(3)]
    marker = f"{redis_cleanup}done"
    with raw.monitor() as monitor:
        store.persist_errors(errors)
        raw.get(marker)
        seen: list[dict[str, Any]] = []
        for command in monitor.listen():
            seen.append(command)
            if marker in command["command"]:
                break
    ours = [c for c in seen if c["command"].startswith("RPUSH") and redis_cleanup in c["command"]]
    assert len(ours) == 3
    client = (ours[0]["client_address"], ours[0]["client_port"])
    words = [c["command"].split()[0] for c in seen if (c["client_address"], c["client_port"]) == client]
    assert words[-5:] == ["MULTI", "RPUSH", "RPUSH", "RPUSH", "EXEC"]
    assert [len(store.get_errors(f"w{i}")) for i in range(3)] == [1, 1, 1]


# -- purge -----------------------------------------------------------------------------------------------
def test_purge_deletes_old_instances_of_one_status_with_their_index_entries(
    store: RedisPersistenceProvider, raw: redis.Redis, redis_cleanup: str
) -> None:
    old_done = make_instance(status=WorkflowStatus.COMPLETE, create_time=T0, complete_time=T0)
    new_done = make_instance(status=WorkflowStatus.COMPLETE, create_time=T0, complete_time=T0 + timedelta(days=2))
    old_running = make_instance(create_time=T0, next_execution=0)
    old_terminated = make_instance(status=WorkflowStatus.TERMINATED, create_time=T0)
    for instance in (old_done, new_done, old_running, old_terminated):
        store.create_workflow(instance)
    store.persist_errors([ExecutionError(workflow_id=old_done.id, execution_pointer_id="p", message="x")])

    assert store.purge_workflows(WorkflowStatus.COMPLETE, T0 + timedelta(days=1)) == 1
    with pytest.raises(WorkflowNotFoundError):
        store.get_workflow_instance(old_done.id)
    assert store.get_errors(old_done.id) == []
    assert raw.zscore(f"{redis_cleanup}idx:status:Complete", old_done.id) is None
    for kept in (new_done, old_running, old_terminated):
        assert store.get_workflow_instance(kept.id).id == kept.id
    assert store.get_runnable_instances(T0 + timedelta(days=1)) == [old_running.id]

    assert store.purge_workflows(WorkflowStatus.COMPLETE, T0 + timedelta(days=1)) == 0
    assert store.purge_workflows(WorkflowStatus.TERMINATED, T0 + timedelta(seconds=1)) == 1  # create_time
    assert store.purge_workflows(WorkflowStatus.COMPLETE, T0 + timedelta(days=2)) == 0  # strictly before


def test_purge_handles_more_than_one_batch(store: RedisPersistenceProvider) -> None:
    for _ in range(1203):
        store.create_workflow(make_instance(status=WorkflowStatus.TERMINATED, create_time=T0))
    assert store.purge_workflows(WorkflowStatus.TERMINATED, T0 + timedelta(seconds=1)) == 1203


# -- pointers stored one by one ----------------------------------------------------------------------------
def test_thousands_of_pointers_written_in_one_persist_read_back_in_order(store: RedisPersistenceProvider) -> None:
    """More changed pointers than one HSET takes (1,000 pairs): the script writes them in chunks."""
    instance = make_instance(execution_pointers=[ExecutionPointer(step_id=i, outcome=i) for i in range(2_500)])
    store.create_workflow(instance)
    loaded = store.get_workflow_instance(instance.id)
    assert [p.step_id for p in loaded.execution_pointers] == list(range(2_500))
    loaded.execution_pointers.extend(ExecutionPointer(step_id=i) for i in range(2_500, 4_700))
    for pointer in loaded.execution_pointers[:3]:
        pointer.outcome = "changed"  # open pointers: written again
    store.persist_workflow(loaded)
    again = store.get_workflow_instance(instance.id)
    assert [p.step_id for p in again.execution_pointers] == list(range(4_700))
    assert [p.outcome for p in again.execution_pointers[:4]] == ["changed", "changed", "changed", 3]


def test_only_changed_pointers_are_sent_and_the_rest_stays_as_stored(
    store: RedisPersistenceProvider, raw: redis.Redis, redis_cleanup: str
) -> None:
    done = ExecutionPointer(step_id=0, status=PointerStatus.COMPLETE, end_time=T0, outcome="kept")
    instance = make_instance(execution_pointers=[done, ExecutionPointer(step_id=1)])
    store.create_workflow(instance)
    loaded = store.get_workflow_instance(instance.id)
    key = f"{Shards(redis_cleanup).base(instance.id)}wf:{instance.id}"
    raw.hset(key, "0", raw.hget(key, "0").replace(b'"kept"', b'"untouched"'))  # type: ignore[union-attr]
    loaded.execution_pointers[1].outcome = "new"
    store.persist_workflow(loaded)  # pointer 0 ended before the load: not sent again
    again = store.get_workflow_instance(instance.id)
    assert [p.outcome for p in again.execution_pointers] == ["untouched", "new"]


def test_a_persist_sent_again_after_its_answer_was_lost_succeeds_once(store: RedisPersistenceProvider) -> None:
    """The hot path sends a command once more when the connection breaks; the first one may have run."""
    instance = make_instance()
    store.create_workflow(instance)
    loaded = store.get_workflow_instance(instance.id)
    real = store._conn.run_script

    def answer_lost_then_sent_again(script: Any, keys: Any, args: Any, **options: Any) -> Any:
        real(script, keys, args, **options)  # ran on the server; its answer never arrived
        return real(script, keys, args, **options)

    store._conn.run_script = answer_lost_then_sent_again  # type: ignore[method-assign]
    store.persist_workflow(loaded)
    store._conn.run_script = real  # type: ignore[method-assign]
    assert loaded.revision == 2 and store.get_workflow_instance(instance.id).revision == 2
    stale = make_instance(id=instance.id, revision=1)
    with pytest.raises(ConcurrencyError):  # another writer's stale revision still conflicts
        store.persist_workflow(stale)


def test_on_one_server_no_write_waits_for_a_replica(
    store: RedisPersistenceProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WAIT is for a cluster only: on one server the writes that wait there (a persist, an event, a control
    request, a schedule, a subscription, a wait line entry, error records) are sent without it."""
    from redis.connection import Connection

    from liteflow.core.schedules import Schedule

    sent: list[bytes] = []
    send = Connection.send_packed_command

    def recording(self: Connection, command: Any, *args: Any, **kwargs: Any) -> None:
        parts = command if isinstance(command, (list, tuple)) else [command]
        sent.extend(bytes(part) for part in parts)
        send(self, command, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", recording)
    instance = make_instance()
    store.create_workflow(instance)
    store.persist_workflow(instance)
    store.create_event(Event(event_name="ev", event_key="k", event_time=T0))
    assert store.request_control(instance.id, None, "suspend")
    store.save_schedule(Schedule(id="s", definition_id="Flow", every=timedelta(minutes=1), next_run_time=T0))
    store.create_event_subscription(make_subscription(instance.id, T0))
    store.add_waiter("line", instance.id, 1.0)
    store.persist_errors([ExecutionError(workflow_id=instance.id, execution_pointer_id="p", message="boom")])
    assert any(b"EVALSHA" in part for part in sent) and any(b"ZADD" in part for part in sent)
    assert any(b"RPUSH" in part for part in sent) and any(b"MULTI" in part for part in sent)
    assert not any(b"\r\nWAIT\r\n" in part for part in sent)
    assert [e.message for e in store.get_errors(instance.id)] == ["boom"]
    assert store.oldest_waiter("line") == (instance.id, 1.0)
