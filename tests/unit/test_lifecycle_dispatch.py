"""The lifecycle dispatcher: one list of callbacks, in the order added (those added ``ahead`` first),
each for the types it asked for, other hosts' events only for those that are not ``local_only``."""

from __future__ import annotations

from liteflow.core.lifecycle import LifecycleEvent, StepStarted, WorkflowCompleted, WorkflowStarted
from liteflow.core.lifecycle_hub import MemoryLifecycleHub
from liteflow.core.models import WorkflowInstance, utcnow
from liteflow.core.services.lifecycle_dispatch import LifecycleDispatcher


def _instance() -> WorkflowInstance:
    return WorkflowInstance(workflow_definition_id="d", version=1, create_time=utcnow())


def test_callbacks_run_in_the_order_added_with_those_added_ahead_first() -> None:
    dispatcher = LifecycleDispatcher("a", None)
    calls: list[str] = []
    dispatcher.add(lambda e: calls.append("user-1"), ())
    dispatcher.add(lambda e: calls.append("ahead-1"), (WorkflowStarted,), local_only=True, ahead=True)
    dispatcher.add(lambda e: calls.append("user-2"), (WorkflowStarted,))
    dispatcher.add(lambda e: calls.append("ahead-2"), (), local_only=True, ahead=True)
    dispatcher.emit([WorkflowStarted.of(_instance())])
    assert calls == ["ahead-1", "ahead-2", "user-1", "user-2"]


def test_a_callback_gets_only_its_types_and_a_failing_one_stops_no_other() -> None:
    dispatcher = LifecycleDispatcher("a", None)
    seen: list[type[LifecycleEvent]] = []

    def failing(event: LifecycleEvent) -> None:
        raise RuntimeError("boom")

    dispatcher.add(failing, (), ahead=True)
    dispatcher.add(lambda e: seen.append(type(e)), (WorkflowCompleted,))
    dispatcher.emit([WorkflowStarted.of(_instance()), WorkflowCompleted.of(_instance())])
    assert seen == [WorkflowCompleted]
    assert dispatcher.wants_step_events() is True  # ``failing`` takes every type, step events too


def test_step_events_are_wanted_only_by_a_callback_that_takes_them() -> None:
    dispatcher = LifecycleDispatcher("a", None)
    dispatcher.add(lambda e: None, (WorkflowStarted, WorkflowCompleted), local_only=True, ahead=True)
    assert dispatcher.wants_step_events() is False
    dispatcher.add(lambda e: None, (StepStarted,))
    assert dispatcher.wants_step_events() is True


def test_other_hosts_events_reach_only_callbacks_that_are_not_local_only() -> None:
    hub = MemoryLifecycleHub()
    here, there = LifecycleDispatcher("a", hub), LifecycleDispatcher("b", hub)
    calls: list[str] = []
    here.add(lambda e: calls.append("local-ahead"), (), local_only=True, ahead=True)
    here.add(lambda e: calls.append("local"), (), local_only=True)
    here.add(lambda e: calls.append("shared"), ())
    there.emit([WorkflowStarted.of(_instance())])
    assert calls == ["shared"]
    here.emit([WorkflowStarted.of(_instance())])  # its own: every callback, and not twice from the hub
    assert calls == ["shared", "local-ahead", "local", "shared"]
    here.close()
    there.emit([WorkflowStarted.of(_instance())])
    assert calls == ["shared", "local-ahead", "local", "shared"]
