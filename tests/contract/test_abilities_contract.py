"""The optional provider abilities of ``liteflow.core.interfaces``, run against every provider that has one.

* ``SupportsRevision.get_revision``: None for an unknown id; the stored revision of an instance, also
  after each stored pass; None while a control request is pending (a host must load the instance then);
* ``SupportsLoadForRun.get_workflow_instance_to_run``: what ``get_workflow_instance`` loads (the same
  document), WorkflowNotFoundError for an unknown id;
* ``InterruptibleQueue.interrupt``: wakes a ``dequeue_work`` blocked on an empty queue at once (it
  returns None); the queue works as before afterwards.

Which built-in provider has which ability is asserted too, so that an ability lost shows as a failure
rather than as a skipped test.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from liteflow.core.errors import WorkflowNotFoundError
from liteflow.core.interfaces import InterruptibleQueue, QueueType, SupportsLoadForRun, SupportsRevision
from liteflow.core.models import WorkflowInstance
from liteflow.core.serialization import dump_instance

#: The abilities each built-in provider declares (the contract fixtures' ids).
PERSISTENCE_ABILITIES = {
    "memory": {SupportsRevision, SupportsLoadForRun},
    "redis": {SupportsRevision},
    "redis-cluster": {SupportsRevision},
    "mongo": {SupportsRevision},
    "sqlite": {SupportsRevision},
}
QUEUE_ABILITIES = {
    "memory": {InterruptibleQueue},
    "redis": {InterruptibleQueue},
    "redis-cluster": {InterruptibleQueue},
    "sqlite": {InterruptibleQueue},
}


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
    found = {ability for ability in (SupportsRevision, SupportsLoadForRun) if isinstance(persistence, ability)}
    assert found == expected


def test_built_in_queue_declares_its_abilities(queue: Any, request: pytest.FixtureRequest) -> None:
    expected = QUEUE_ABILITIES.get(_name(request, "queue"))
    if expected is None:
        pytest.skip("not a built-in provider")
    assert {ability for ability in (InterruptibleQueue,) if isinstance(queue, ability)} == expected


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
