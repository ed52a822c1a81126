"""The PersistenceProvider contract, run against every registered implementation (see conftest.py).

Times are built at millisecond precision (what BSON and most stores keep), so a round trip compares equal.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from liteflow.core.errors import ConcurrencyError, SerializationError, WorkflowNotFoundError
from liteflow.core.interfaces import PersistenceProvider
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    to_millis,
)

T0 = datetime(2024, 5, 17, 9, 30, 15, 123000, tzinfo=timezone.utc)
#: How a datetime inside workflow data is stored: ISO 8601 as pydantic writes it (UTC as "Z").
T0_TEXT = "2024-05-17T09:30:15.123000Z"


def ms_now() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def instance(**fields: Any) -> WorkflowInstance:
    values: dict[str, Any] = {"workflow_definition_id": "Contract", "version": 1, "create_time": ms_now()}
    values.update(fields)
    return WorkflowInstance(**values)


def full_instance() -> WorkflowInstance:
    """An instance with every field set, pointers with children, scope and context items."""
    parent = ExecutionPointer(
        step_id=0,
        step_name="Loop",
        status=PointerStatus.COMPLETE,
        active=False,
        create_time=T0,
        start_time=T0 + timedelta(milliseconds=1),
        end_time=T0 + timedelta(seconds=2),
        persistence_data={"children_active": True, "values": [1, 2]},
        outcome="done",
        children=["child-a", "child-b"],
        retry_count=2,
    )
    child = ExecutionPointer(
        id="child-a",
        step_id=1,
        step_name="Wait",
        status=PointerStatus.WAITING_FOR_EVENT,
        create_time=T0 + timedelta(seconds=1),
        sleep_until=T0 + timedelta(hours=1),
        event_name="approved",
        event_key="order-7",
        event_published=True,
        event_data={"by": "ann", "amount": 12.5},
        event_id="ev-1",
        context_item={"sku": "A-1", "qty": 3},
        predecessor_id=parent.id,
        scope=[parent.id],
    )
    return instance(
        workflow_definition_id="Order",
        version=3,
        description="an order",
        reference="order-7",
        status=WorkflowStatus.SUSPENDED,
        data={"name": "x", "n": 3, "ok": True, "none": None, "nested": {"list": [1, "a", None, 2.5]}},
        data_type_name="tests.OrderData",
        create_time=T0,
        complete_time=T0 + timedelta(days=1),
        next_execution=to_millis(T0) + 5000,
        execution_pointers=[parent, child],
    )


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


# -- instances -----------------------------------------------------------------------------------------
def test_implements_the_protocol(persistence: Any) -> None:
    assert isinstance(persistence, PersistenceProvider)
    assert isinstance(persistence.stores_json, bool)


def test_create_and_get_round_trip(persistence: Any) -> None:
    original = full_instance()
    assert persistence.create_workflow(original) == original.id
    assert original.revision == 1

    loaded = persistence.get_workflow_instance(original.id)

    assert loaded.model_dump() == original.model_dump()
    assert loaded.revision == 1
    for value in (loaded.create_time, loaded.complete_time):
        assert_utc(value)
    pointer = loaded.find_pointer("child-a")
    assert pointer is not None
    assert_utc(pointer.sleep_until)
    assert pointer.status is PointerStatus.WAITING_FOR_EVENT and loaded.status is WorkflowStatus.SUSPENDED
    assert pointer.scope == [loaded.execution_pointers[0].id]
    assert loaded.execution_pointers[0].children == ["child-a", "child-b"]


def test_loaded_instance_does_not_alias_the_stored_one(persistence: Any) -> None:
    original = instance(data={"items": [1]})
    persistence.create_workflow(original)
    original.data["items"].append(2)
    loaded = persistence.get_workflow_instance(original.id)
    loaded.data["items"].append(3)
    assert persistence.get_workflow_instance(original.id).data == {"items": [1]}


def test_non_utc_times_come_back_as_the_same_instant_in_utc(persistence: Any) -> None:
    plus_two = timezone(timedelta(hours=2))
    original = instance(create_time=datetime(2024, 1, 1, 12, 0, 0, 250000, tzinfo=plus_two))
    persistence.create_workflow(original)
    loaded = persistence.get_workflow_instance(original.id)
    assert loaded.create_time == datetime(2024, 1, 1, 10, 0, 0, 250000, tzinfo=timezone.utc)
    assert_utc(loaded.create_time)


def test_get_unknown_instance_raises_not_found(persistence: Any) -> None:
    with pytest.raises(WorkflowNotFoundError) as info:
        persistence.get_workflow_instance("no-such-id")
    assert "no-such-id" in str(info.value)


def test_persist_increments_revision(persistence: Any) -> None:
    wf = instance()
    persistence.create_workflow(wf)
    wf.status = WorkflowStatus.SUSPENDED
    persistence.persist_workflow(wf)
    assert wf.revision == 2
    wf.status = WorkflowStatus.RUNNABLE
    persistence.persist_workflow(wf)
    assert wf.revision == 3
    stored = persistence.get_workflow_instance(wf.id)
    assert stored.revision == 3 and stored.status is WorkflowStatus.RUNNABLE


def test_persist_is_compare_and_set(persistence: Any) -> None:
    wf = instance(data={"who": "nobody"})
    persistence.create_workflow(wf)
    first = persistence.get_workflow_instance(wf.id)
    second = persistence.get_workflow_instance(wf.id)
    first.data = {"who": "first"}
    second.data = {"who": "second"}
    second.status = WorkflowStatus.TERMINATED

    persistence.persist_workflow(first)
    with pytest.raises(ConcurrencyError) as info:
        persistence.persist_workflow(second)

    assert info.value.workflow_id == wf.id
    assert second.revision == 1
    stored = persistence.get_workflow_instance(wf.id)
    assert stored.data == {"who": "first"}
    assert stored.status is WorkflowStatus.RUNNABLE
    assert stored.revision == 2


def test_concurrent_persists_of_one_revision_let_exactly_one_win(persistence: Any) -> None:
    wf = instance(data={"winner": None})
    persistence.create_workflow(wf)
    copies = [persistence.get_workflow_instance(wf.id) for _ in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(copies))

    def persist(copy: WorkflowInstance, n: int) -> None:
        copy.data = {"winner": n}
        barrier.wait()
        try:
            persistence.persist_workflow(copy)
            outcomes.append(f"won:{n}")
        except ConcurrencyError:
            outcomes.append("lost")

    threads = [threading.Thread(target=persist, args=(c, n)) for n, c in enumerate(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    winners = [o for o in outcomes if o.startswith("won")]
    assert len(outcomes) == len(copies) and len(winners) == 1
    stored = persistence.get_workflow_instance(wf.id)
    assert stored.revision == 2 and winners == [f"won:{stored.data['winner']}"]


def test_persist_unknown_instance_raises_not_found(persistence: Any) -> None:
    with pytest.raises(WorkflowNotFoundError):
        persistence.persist_workflow(instance())


def test_get_workflow_instances(persistence: Any) -> None:
    a, b, c = instance(reference="a"), instance(reference="b"), instance(reference="c")
    for wf in (a, b, c):
        persistence.create_workflow(wf)
    found = persistence.get_workflow_instances([a.id, c.id, "missing"])
    assert sorted(wf.reference for wf in found) == ["a", "c"]
    assert persistence.get_workflow_instances([]) == []


def test_get_runnable_instances(persistence: Any) -> None:
    now = ms_now()
    past, future = to_millis(now) - 1000, to_millis(now) + 60_000
    due = instance(next_execution=past)
    due_exactly = instance(next_execution=to_millis(now))
    waiting_for_event = instance(next_execution=None)
    not_yet = instance(next_execution=future)
    suspended = instance(status=WorkflowStatus.SUSPENDED, next_execution=past)
    complete = instance(status=WorkflowStatus.COMPLETE, next_execution=past)
    for wf in (due, due_exactly, waiting_for_event, not_yet, suspended, complete):
        persistence.create_workflow(wf)

    assert sorted(persistence.get_runnable_instances(now)) == sorted([due.id, due_exactly.id])
    later = now + timedelta(minutes=2)
    assert sorted(persistence.get_runnable_instances(later)) == sorted([due.id, due_exactly.id, not_yet.id])


def test_runnable_instances_follow_persisted_changes(persistence: Any) -> None:
    now = ms_now()
    wf = instance(next_execution=to_millis(now) - 1)
    persistence.create_workflow(wf)
    assert persistence.get_runnable_instances(now) == [wf.id]
    wf.next_execution = None
    persistence.persist_workflow(wf)
    assert persistence.get_runnable_instances(now) == []


def test_purge_workflows_by_status_and_age(persistence: Any) -> None:
    now = ms_now()
    old, recent, cutoff = now - timedelta(days=3), now - timedelta(hours=1), now - timedelta(days=1)
    old_complete = instance(status=WorkflowStatus.COMPLETE, create_time=old, complete_time=old)
    old_complete_no_end = instance(status=WorkflowStatus.COMPLETE, create_time=old)
    created_old_completed_recently = instance(status=WorkflowStatus.COMPLETE, create_time=old, complete_time=recent)
    recent_complete = instance(status=WorkflowStatus.COMPLETE, create_time=recent, complete_time=recent)
    old_terminated = instance(status=WorkflowStatus.TERMINATED, create_time=old, complete_time=old)
    old_runnable = instance(create_time=old)
    everything = [
        old_complete,
        old_complete_no_end,
        created_old_completed_recently,
        recent_complete,
        old_terminated,
        old_runnable,
    ]
    for wf in everything:
        persistence.create_workflow(wf)

    assert persistence.purge_workflows(WorkflowStatus.COMPLETE, cutoff) == 2

    kept = {wf.id for wf in persistence.get_workflow_instances([wf.id for wf in everything])}
    assert kept == {created_old_completed_recently.id, recent_complete.id, old_terminated.id, old_runnable.id}
    with pytest.raises(WorkflowNotFoundError):
        persistence.get_workflow_instance(old_complete.id)
    assert persistence.purge_workflows(WorkflowStatus.COMPLETE, cutoff) == 0
    assert persistence.purge_workflows(WorkflowStatus.TERMINATED, cutoff) == 1


def _waiting(persistence: Any, status: WorkflowStatus, ended: datetime) -> tuple[WorkflowInstance, EventSubscription]:
    """An instance (in ``status`` since ``ended``) whose pointer waits for an event, as the engine stores it:
    the subscription's id is the pointer's; and one error recorded for it."""
    pointer = ExecutionPointer(step_id=1, status=PointerStatus.WAITING_FOR_EVENT, active=False)
    pointer.event_name, pointer.event_key = "approved", "k-purge"
    wf = instance(execution_pointers=[ExecutionPointer(step_id=0), pointer])
    persistence.create_workflow(wf)
    waiting = EventSubscription(
        id=pointer.id,
        workflow_id=wf.id,
        step_id=1,
        execution_pointer_id=pointer.id,
        event_name="approved",
        event_key="k-purge",
        subscribe_as_of=T0,
    )
    wf.status, wf.complete_time = status, ended
    persistence.persist_workflow(wf, [waiting])
    error = ExecutionError(workflow_id=wf.id, execution_pointer_id=pointer.id, error_time=T0, message="boom")
    persistence.persist_errors([error])
    return wf, waiting


def test_purge_workflows_removes_their_subscriptions_and_errors(persistence: Any) -> None:
    now = ms_now()
    purged, purged_subscription = _waiting(persistence, WorkflowStatus.TERMINATED, now - timedelta(days=3))
    kept, kept_subscription = _waiting(persistence, WorkflowStatus.TERMINATED, now)

    assert persistence.purge_workflows(WorkflowStatus.TERMINATED, now - timedelta(days=1)) == 1

    left = persistence.get_subscriptions("approved", "k-purge", now)
    assert [s.id for s in left] == [kept_subscription.id]
    assert persistence.get_errors(purged.id) == []
    assert [e.workflow_id for e in persistence.get_errors(kept.id)] == [kept.id]
    assert purged_subscription.id != kept_subscription.id


def test_purge_events_with_a_limit_takes_the_oldest_first(persistence: Any) -> None:
    events = [event(T0 + timedelta(minutes=m), is_processed=True) for m in (3, 1, 4, 2)]
    for e in events:
        persistence.create_event(e)
    cutoff = T0 + timedelta(hours=1)

    assert persistence.purge_events(cutoff, limit=2) == 2

    kept = persistence.get_events("approved", "k1", T0, cutoff)
    assert [e.id for e in kept] == [events[0].id, events[2].id]  # the minute-1 and minute-2 events went
    assert persistence.purge_events(cutoff, limit=5) == 2
    assert persistence.purge_events(cutoff, limit=5) == 0


# -- subscriptions -------------------------------------------------------------------------------------
def subscription(as_of: datetime, name: str = "approved", key: str = "k1", **fields: Any) -> EventSubscription:
    values: dict[str, Any] = {
        "workflow_id": "wf-1",
        "step_id": 2,
        "execution_pointer_id": "ptr-1",
        "event_name": name,
        "event_key": key,
        "subscribe_as_of": as_of,
    }
    values.update(fields)
    return EventSubscription(**values)


def test_subscriptions_by_name_key_and_as_of(persistence: Any) -> None:
    first, second, third = (subscription(T0 + timedelta(seconds=s)) for s in (0, 1, 2))
    other_key = subscription(T0, key="k2")
    other_name = subscription(T0, name="rejected")
    for sub in (third, second, other_name, first, other_key):
        assert persistence.create_event_subscription(sub) == sub.id

    found = persistence.get_subscriptions("approved", "k1", T0 + timedelta(seconds=1))

    assert [s.id for s in found] == [first.id, second.id]
    assert found[0].model_dump() == first.model_dump()
    assert_utc(found[0].subscribe_as_of)
    assert persistence.get_subscriptions("approved", "k1", T0 - timedelta(milliseconds=1)) == []
    assert [s.id for s in persistence.get_subscriptions("approved", "k2", T0)] == [other_key.id]


def test_terminate_subscription(persistence: Any) -> None:
    keep, drop = subscription(T0), subscription(T0 + timedelta(seconds=1))
    persistence.create_event_subscription(keep)
    persistence.create_event_subscription(drop)
    persistence.terminate_subscription(drop.id)
    persistence.terminate_subscription("no-such-subscription")
    assert [s.id for s in persistence.get_subscriptions("approved", "k1", T0 + timedelta(days=1))] == [keep.id]


def test_terminate_subscription_given_its_instance(persistence: Any) -> None:
    keep = subscription(T0, workflow_id="wf-a")
    drop = subscription(T0 + timedelta(seconds=1), workflow_id="wf-b")
    persistence.create_event_subscription(keep)
    persistence.create_event_subscription(drop)
    persistence.terminate_subscription(drop.id, workflow_id="wf-b")
    persistence.terminate_subscription("no-such-subscription", workflow_id="wf-b")
    assert [s.id for s in persistence.get_subscriptions("approved", "k1", T0 + timedelta(days=1))] == [keep.id]


def test_persist_workflow_saves_subscriptions(persistence: Any) -> None:
    wf = instance()
    persistence.create_workflow(wf)
    sub = subscription(T0, workflow_id=wf.id)
    persistence.persist_workflow(wf, subscriptions=[sub])
    found = persistence.get_subscriptions("approved", "k1", T0)
    assert [s.model_dump() for s in found] == [sub.model_dump()]

    # upserted by id: persisting the same subscription again does not duplicate it
    sub.step_id = 5
    persistence.persist_workflow(wf, subscriptions=[sub])
    found = persistence.get_subscriptions("approved", "k1", T0)
    assert [(s.id, s.step_id) for s in found] == [(sub.id, 5)]


def test_persist_workflow_ends_subscriptions_with_the_instance_and_not_without_it(persistence: Any) -> None:
    wf = instance()
    persistence.create_workflow(wf)
    first, second = subscription(T0, workflow_id=wf.id), subscription(T0, workflow_id=wf.id, key="k2")
    persistence.persist_workflow(wf, subscriptions=[first, second])
    stale = persistence.get_workflow_instance(wf.id)
    persistence.persist_workflow(wf, ended_subscriptions=[first.id, "never-made"])
    assert persistence.get_subscriptions("approved", "k1", T0) == []
    assert [s.id for s in persistence.get_subscriptions("approved", "k2", T0)] == [second.id]
    with pytest.raises(ConcurrencyError):  # a lost compare-and-set ends nothing
        persistence.persist_workflow(stale, ended_subscriptions=[second.id])
    assert [s.id for s in persistence.get_subscriptions("approved", "k2", T0)] == [second.id]


# -- events --------------------------------------------------------------------------------------------
def event(at: datetime, name: str = "approved", key: str = "k1", **fields: Any) -> Event:
    return Event(event_name=name, event_key=key, event_time=at, **fields)


def test_event_round_trip(persistence: Any) -> None:
    original = event(T0, event_data={"by": "ann", "lines": [1, 2]})
    assert persistence.create_event(original) == original.id
    loaded = persistence.get_event(original.id)
    assert loaded.model_dump() == original.model_dump()
    assert_utc(loaded.event_time)
    assert loaded.is_processed is False


def test_get_unknown_event_raises_key_error(persistence: Any) -> None:
    with pytest.raises(KeyError):
        persistence.get_event("no-such-event")


def test_get_events_since_until_inclusive_oldest_first(persistence: Any) -> None:
    at = [T0 + timedelta(seconds=s) for s in range(4)]
    events = [event(t) for t in at]
    for e in (events[2], events[0], events[3], events[1], event(at[1], key="k2"), event(at[1], name="x")):
        persistence.create_event(e)

    found = persistence.get_events("approved", "k1", at[1], at[2])

    assert [e.id for e in found] == [events[1].id, events[2].id]
    assert [e.id for e in persistence.get_events("approved", "k1", T0 - timedelta(days=1), at[3])] == [
        e.id for e in events
    ]
    assert persistence.get_events("approved", "k3", T0, at[3]) == []


def test_purge_events_drops_only_processed_events_before_the_cutoff(persistence: Any) -> None:
    cutoff = T0 + timedelta(hours=1)
    old_done = event(T0, is_processed=True)
    old_open = event(T0)
    at_cutoff_done = event(cutoff, is_processed=True)
    new_done = event(cutoff + timedelta(hours=1), is_processed=True)
    marked_later = event(T0 + timedelta(minutes=1))
    for e in (old_done, old_open, at_cutoff_done, new_done, marked_later):
        persistence.create_event(e)
    persistence.mark_event_processed(marked_later.id)

    assert persistence.purge_events(cutoff) == 2

    for gone in (old_done, marked_later):
        with pytest.raises(KeyError):
            persistence.get_event(gone.id)
    kept = persistence.get_events("approved", "k1", T0 - timedelta(days=1), cutoff + timedelta(days=1))
    assert [e.id for e in kept] == [old_open.id, at_cutoff_done.id, new_done.id]
    assert persistence.get_runnable_events(cutoff + timedelta(days=1)) == [old_open.id]
    assert persistence.purge_events(cutoff) == 0


def test_runnable_events_and_processed_marks(persistence: Any) -> None:
    now = ms_now()
    due = event(now - timedelta(seconds=5))
    due_exactly = event(now)
    future = event(now + timedelta(minutes=5))
    processed = event(now - timedelta(seconds=5), is_processed=True)
    for e in (due, due_exactly, future, processed):
        persistence.create_event(e)

    assert sorted(persistence.get_runnable_events(now)) == sorted([due.id, due_exactly.id])

    persistence.mark_event_processed(due.id)
    assert persistence.get_runnable_events(now) == [due_exactly.id]
    assert persistence.get_event(due.id).is_processed is True

    persistence.mark_event_unprocessed(due.id)
    assert sorted(persistence.get_runnable_events(now)) == sorted([due.id, due_exactly.id])
    assert persistence.get_event(due.id).is_processed is False


# -- errors --------------------------------------------------------------------------------------------
def test_errors_persist_and_get(persistence: Any) -> None:
    first = ExecutionError(workflow_id="wf-1", execution_pointer_id="p1", error_time=T0, message="boom")
    second = ExecutionError(
        workflow_id="wf-1", execution_pointer_id="p2", error_time=T0 + timedelta(seconds=1), message="again"
    )
    other = ExecutionError(workflow_id="wf-2", execution_pointer_id="p3", error_time=T0, message="elsewhere")
    persistence.persist_errors([first, other])
    persistence.persist_errors([second])
    persistence.persist_errors([])

    found = sorted(persistence.get_errors("wf-1"), key=lambda e: e.error_time)

    assert [e.model_dump() for e in found] == [first.model_dump(), second.model_dump()]
    assert_utc(found[0].error_time)
    assert persistence.get_errors("wf-unknown") == []


# -- persistent providers store JSON -------------------------------------------------------------------
@dataclasses.dataclass
class OrderData:
    customer: str
    total: float
    placed: datetime
    lines: list[int] = dataclasses.field(default_factory=list)


class PlainData:
    def __init__(self) -> None:
        self.name = "plain"
        self.order = OrderData("ann", 9.5, T0, [1, 2])


class Unstorable:
    def __init__(self) -> None:
        self.ok = 1
        self.handle = threading.Lock()


@pytest.fixture
def json_persistence(persistence: Any) -> Any:
    if not persistence.stores_json:
        pytest.skip("this provider keeps values as Python objects (stores_json is False)")
    return persistence


def test_objects_come_back_as_json_dicts(json_persistence: Any) -> None:
    wf = instance(data=PlainData())
    wf.execution_pointers.append(
        ExecutionPointer(step_id=0, persistence_data=OrderData("bob", 1.0, T0), context_item=OrderData("c", 2, T0))
    )
    json_persistence.create_workflow(wf)

    loaded = json_persistence.get_workflow_instance(wf.id)

    order = {"customer": "ann", "total": 9.5, "placed": T0_TEXT, "lines": [1, 2]}
    assert loaded.data == {"name": "plain", "order": order}
    assert type(loaded.data) is dict
    pointer = loaded.execution_pointers[0]
    assert pointer.persistence_data == {
        "customer": "bob",
        "total": 1.0,
        "placed": T0_TEXT,
        "lines": [],
    }
    assert type(pointer.context_item) is dict


def test_dataclass_data_comes_back_as_json_dict_after_persist(json_persistence: Any) -> None:
    wf = instance(data=None)
    json_persistence.create_workflow(wf)
    wf.data = OrderData("ann", 3.0, T0, [7])
    json_persistence.persist_workflow(wf)
    loaded = json_persistence.get_workflow_instance(wf.id)
    assert loaded.data == {"customer": "ann", "total": 3.0, "placed": T0_TEXT, "lines": [7]}


def test_event_data_objects_come_back_as_json(json_persistence: Any) -> None:
    e = event(T0, event_data=OrderData("ann", 1.5, T0))
    json_persistence.create_event(e)
    assert json_persistence.get_event(e.id).event_data == {
        "customer": "ann",
        "total": 1.5,
        "placed": T0_TEXT,
        "lines": [],
    }


def test_unstorable_data_raises_serialization_error_naming_the_path(json_persistence: Any) -> None:
    wf = instance(data={"inner": Unstorable()})
    with pytest.raises(SerializationError) as info:
        json_persistence.create_workflow(wf)
    assert "data.inner.handle" in str(info.value)
    with pytest.raises(WorkflowNotFoundError):
        json_persistence.get_workflow_instance(wf.id)


def test_unstorable_pointer_value_raises_serialization_error(json_persistence: Any) -> None:
    wf = instance()
    wf.execution_pointers.append(ExecutionPointer(step_id=0, step_name="Fetch", persistence_data={"f": print}))
    with pytest.raises(SerializationError) as info:
        json_persistence.create_workflow(wf)
    assert "persistence_data.f" in str(info.value)


def test_unstorable_data_at_persist_stores_nothing(json_persistence: Any) -> None:
    wf = instance(data={"n": 1})
    json_persistence.create_workflow(wf)
    wf.data = {"n": Unstorable()}
    with pytest.raises(SerializationError):
        json_persistence.persist_workflow(wf)
    stored = json_persistence.get_workflow_instance(wf.id)
    assert stored.data == {"n": 1} and stored.revision == 1 and wf.revision == 1


def test_get_revision_follows_every_store_when_offered(persistence: PersistenceProvider) -> None:
    """``get_revision`` is optional for a provider (hosts reuse an instance they hold only where it exists);
    the built-in ones all offer it."""
    get_revision = getattr(persistence, "get_revision", None)
    if get_revision is None:
        pytest.skip("this provider does not offer get_revision")
    assert get_revision("no-such-instance") is None
    new = instance()
    persistence.create_workflow(new)
    assert get_revision(new.id) == new.revision == 1
    loaded = persistence.get_workflow_instance(new.id)
    persistence.persist_workflow(loaded)
    assert get_revision(new.id) == loaded.revision == 2


def test_answers_the_start_up_check(persistence: Any) -> None:
    from liteflow.core.interfaces import HealthCheck

    assert isinstance(persistence, HealthCheck)  # host.start() pings it once
    persistence.ping(5.0)
    assert persistence.describe()
