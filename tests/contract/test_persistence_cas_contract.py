"""The PersistenceProvider contract on refused writes and status changes, run against every provider.

* ``create_workflow`` of an id that exists raises WorkflowAlreadyExistsError and changes nothing;
* a ``persist_workflow`` refused (a stale revision: ConcurrencyError; pending control requests it does
  not clear: ControlRequested) changes nothing: not the instance, its revision, its indexes, the
  subscriptions it would have stored, those it would have ended, nor the pending requests;
* ``request_control`` is a compare-and-set of the pending requests beside the instance: it never
  touches the instance or its revision, every load carries them, and the persist that names them as
  applied stores and clears them in one write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from liteflow.core.control_state import pending_control
from liteflow.core.errors import ConcurrencyError, ControlRequested, WorkflowAlreadyExistsError, WorkflowNotFoundError
from liteflow.core.models import (
    EventSubscription,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    to_millis,
)
from liteflow.core.serialization import dump_instance

T0 = datetime(2024, 5, 17, 9, 30, 15, 123000, tzinfo=timezone.utc)


def ms_now() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def instance(**fields: Any) -> WorkflowInstance:
    values: dict[str, Any] = {"workflow_definition_id": "Contract", "version": 1, "create_time": ms_now()}
    values.update(fields)
    return WorkflowInstance(**values)


SUSPEND = '{"id":"r1","action":"suspend"}'
RESUME = '{"id":"r2","action":"resume"}'


def sub(workflow_id: str, name: str, step_id: int = 0) -> EventSubscription:
    return EventSubscription(
        workflow_id=workflow_id,
        step_id=step_id,
        execution_pointer_id=f"p-{name}",
        event_name=name,
        event_key="k",
        subscribe_as_of=T0,
    )


def snapshot(persistence: Any, workflow_id: str) -> dict[str, Any]:
    """Everything a write of this instance may change, as the provider answers it."""
    stored = persistence.get_workflow_instance(workflow_id)
    far = T0 + timedelta(days=365 * 30)
    subscriptions = {
        name: [s.model_dump() for s in persistence.get_subscriptions(name, "k", far)]
        for name in ("kept", "upserted", "new", "ended")
    }
    get_revision = getattr(persistence, "get_revision", None)
    return {
        "instance": dump_instance(stored),
        "revision": stored.revision,
        "pending": pending_control(stored),
        "runnable": workflow_id in persistence.get_runnable_instances(far),
        "subscriptions": subscriptions,
        "get_revision": get_revision(workflow_id) if get_revision is not None else None,
    }


def stored_runnable(persistence: Any) -> WorkflowInstance:
    """A RUNNABLE instance due now, with two pointers and three subscriptions (kept, upserted, ended)."""
    wf = instance(next_execution=to_millis(ms_now()), data={"v": 1})
    wf.execution_pointers = [
        ExecutionPointer(id="p0", step_id=0, status=PointerStatus.COMPLETE, end_time=T0, active=False),
        ExecutionPointer(id="p1", step_id=1, status=PointerStatus.PENDING),
    ]
    persistence.create_workflow(wf)
    persistence.persist_workflow(wf, [sub(wf.id, "kept"), sub(wf.id, "upserted"), sub(wf.id, "ended")])
    return wf


def refused_write(persistence: Any, wf: WorkflowInstance) -> tuple[WorkflowInstance, list[Any], list[str]]:
    """A pass on a fresh copy that changes every part a write can change."""
    copy = persistence.get_workflow_instance(wf.id)
    copy.data = {"v": 2}
    copy.status = WorkflowStatus.COMPLETE
    copy.complete_time = ms_now()
    copy.next_execution = None
    copy.execution_pointers[1].status = PointerStatus.COMPLETE
    copy.execution_pointers[1].end_time = ms_now()
    copy.execution_pointers.append(ExecutionPointer(id="p2", step_id=2))
    upserted = sub(wf.id, "upserted", step_id=9)
    upserted.id = next(s.id for s in persistence.get_subscriptions("upserted", "k", T0))
    ended = [s.id for s in persistence.get_subscriptions("ended", "k", T0)]
    return copy, [upserted, sub(wf.id, "new")], ended


def lose_revision(persistence: Any, wf: WorkflowInstance) -> None:
    persistence.persist_workflow(persistence.get_workflow_instance(wf.id))  # someone else stores first


def request_suspend(persistence: Any, wf: WorkflowInstance) -> None:
    assert persistence.request_control(wf.id, None, SUSPEND) is True


Refusal = Callable[[Any, WorkflowInstance], None]


@pytest.mark.parametrize(
    "refuse, error",
    [(lose_revision, ConcurrencyError), (request_suspend, ControlRequested)],
    ids=["stale-revision", "control-pending"],
)
def test_a_refused_persist_changes_nothing(persistence: Any, refuse: Refusal, error: type[Exception]) -> None:
    wf = stored_runnable(persistence)
    copy, subscriptions, ended = refused_write(persistence, wf)
    refuse(persistence, wf)
    before = snapshot(persistence, wf.id)
    revision = copy.revision

    with pytest.raises(error) as info:
        persistence.persist_workflow(copy, subscriptions, ended)

    assert info.value.workflow_id == wf.id  # type: ignore[attr-defined]
    if error is ControlRequested:
        assert info.value.request == SUSPEND  # type: ignore[attr-defined]
    assert copy.revision == revision
    assert snapshot(persistence, wf.id) == before


def test_a_persist_naming_other_requests_as_applied_is_refused(persistence: Any) -> None:
    wf = stored_runnable(persistence)
    copy, subscriptions, ended = refused_write(persistence, wf)
    request_suspend(persistence, wf)
    before = snapshot(persistence, wf.id)
    with pytest.raises(ControlRequested):
        persistence.persist_workflow(copy, subscriptions, ended, control_applied=RESUME)
    assert snapshot(persistence, wf.id) == before


def test_create_of_an_existing_id_raises_and_changes_nothing(persistence: Any) -> None:
    wf = stored_runnable(persistence)
    before = snapshot(persistence, wf.id)
    again = instance(id=wf.id, data={"v": "other"}, status=WorkflowStatus.SUSPENDED, next_execution=None)

    with pytest.raises(WorkflowAlreadyExistsError) as info:
        persistence.create_workflow(again)

    assert info.value.workflow_id == wf.id and wf.id in str(info.value)
    assert snapshot(persistence, wf.id) == before


def test_concurrent_creates_of_one_id_let_exactly_one_win(persistence: Any) -> None:
    workflow_id = "one-id"
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def create(n: int) -> None:
        barrier.wait()
        try:
            persistence.create_workflow(instance(id=workflow_id, data={"n": n}))
            outcomes.append(f"won:{n}")
        except WorkflowAlreadyExistsError:
            outcomes.append("exists")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(outcomes) == 6 and len(winners) == 1
    stored = persistence.get_workflow_instance(workflow_id)
    assert stored.revision == 1 and winners == [f"won:{stored.data['n']}"]


def test_request_control_is_a_compare_and_set_beside_the_instance(persistence: Any) -> None:
    wf = stored_runnable(persistence)
    before = persistence.get_workflow_instance(wf.id)
    assert pending_control(before) is None

    assert persistence.request_control(wf.id, None, SUSPEND) is True
    assert persistence.request_control(wf.id, None, RESUME) is False  # not what is pending now
    assert persistence.request_control(wf.id, RESUME, RESUME) is False
    both = f"{SUSPEND}\n{RESUME}"
    assert persistence.request_control(wf.id, SUSPEND, both) is True

    loaded = persistence.get_workflow_instance(wf.id)
    assert pending_control(loaded) == both
    assert [pending_control(i) for i in persistence.get_workflow_instances([wf.id])] == [both]
    assert dump_instance(loaded) == dump_instance(before) and loaded.revision == before.revision
    get_revision = getattr(persistence, "get_revision", None)
    if get_revision is not None:  # an instance parked by a host must be loaded again: it has requests
        assert get_revision(wf.id) is None
    with pytest.raises(WorkflowNotFoundError):
        persistence.request_control("no-such-instance", None, SUSPEND)


def test_the_persist_applying_the_requests_stores_and_clears_them(persistence: Any) -> None:
    wf = stored_runnable(persistence)
    copy, subscriptions, ended = refused_write(persistence, wf)
    request_suspend(persistence, wf)

    copy.status, copy.complete_time = WorkflowStatus.SUSPENDED, None
    persistence.persist_workflow(copy, subscriptions, ended, control_applied=SUSPEND)

    stored = persistence.get_workflow_instance(wf.id)
    assert stored.revision == copy.revision == 3
    assert stored.status is WorkflowStatus.SUSPENDED and stored.data == {"v": 2}
    assert [p.id for p in stored.execution_pointers] == ["p0", "p1", "p2"]
    assert pending_control(stored) is None
    assert persistence.get_subscriptions("new", "k", T0) != []
    assert persistence.get_subscriptions("ended", "k", T0) == []
    get_revision = getattr(persistence, "get_revision", None)
    if get_revision is not None:
        assert get_revision(wf.id) == 3
    # cleared: the next request is taken again, and a plain persist is refused again
    assert persistence.request_control(wf.id, None, RESUME) is True
    with pytest.raises(ControlRequested):
        persistence.persist_workflow(stored)


def test_a_persist_naming_requests_no_longer_pending_goes_ahead(persistence: Any) -> None:
    wf = stored_runnable(persistence)
    copy = persistence.get_workflow_instance(wf.id)
    copy.data = {"v": 3}
    persistence.persist_workflow(copy, control_applied=SUSPEND)
    stored = persistence.get_workflow_instance(wf.id)
    assert stored.data == {"v": 3} and stored.revision == 3 and pending_control(stored) is None
