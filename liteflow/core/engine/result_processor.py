"""Applying a step's :class:`ExecutionResult` to its pointer, and deciding when the instance runs next."""

from __future__ import annotations

from datetime import datetime

from liteflow.core.definition import WorkflowDefinition, WorkflowStep
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointer_factory import child_pointer, next_pointer
from liteflow.core.engine.pointers import open_pointers
from liteflow.core.lifecycle import StepCompleted, WorkflowCompleted
from liteflow.core.models import (
    EventSubscription,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    to_millis,
)
from liteflow.core.step import ExecutionResult


def complete_pointer(
    instance: WorkflowInstance,
    definition: WorkflowDefinition,
    pointer: ExecutionPointer,
    step: WorkflowStep,
    outcome_value: object,
    now: datetime,
) -> None:
    """End the pointer and start the steps that follow it for this outcome."""
    fields = pointer.__dict__  # no validation to skip: see models._Persisted
    fields["active"] = False
    fields["end_time"] = now
    fields["status"] = PointerStatus.COMPLETE
    fields["sleep_until"] = None
    for outcome in step.outcomes:
        if outcome.matches(outcome_value):
            instance.execution_pointers.append(next_pointer(definition, pointer, outcome.next_step, now))
    compensating = definition.extra.get("compensation_steps")  # compensation_steps(), without the call
    if step.id in (compensation_steps(definition) if compensating is None else compensating):
        # compensations run one after another: the next one waits, inactive, for this one
        for waiting in open_pointers(instance):
            pending = not waiting.active and waiting.start_time is None and waiting.end_time is None
            if pending and waiting.predecessor_id == pointer.id:
                waiting.active = True


def compensation_steps(definition: WorkflowDefinition) -> frozenset[int]:
    """Ids of the steps that compensate others (cached on the definition)."""
    cached = definition.extra.get("compensation_steps")
    if cached is None:
        cached = frozenset(s.compensation_step_id for s in definition.steps if s.compensation_step_id is not None)
        definition.extra["compensation_steps"] = cached
    return cached  # type: ignore[no-any-return,unused-ignore]


def process_result(
    instance: WorkflowInstance,
    definition: WorkflowDefinition,
    pointer: ExecutionPointer,
    step: WorkflowStep,
    result: ExecutionResult,
    now: datetime,
    out: PassResult,
    emit: bool,
) -> None:
    fields = pointer.__dict__  # no validation to skip: see models._Persisted
    fields["persistence_data"] = result.persistence_data
    if result.proceed or result.outcome_value is not None:
        fields["outcome"] = result.outcome_value
    if result.sleep_for is not None:
        fields["sleep_until"] = now + result.sleep_for
        fields["status"] = PointerStatus.SLEEPING
    else:
        fields["sleep_until"] = None
    if result.event_name is not None:
        pointer.event_name = result.event_name
        pointer.event_key = result.event_key
        pointer.event_published = False
        pointer.active = False
        pointer.status = PointerStatus.WAITING_FOR_EVENT
        out.subscriptions.append(
            EventSubscription(
                id=pointer.id,
                workflow_id=instance.id,
                step_id=step.id,
                execution_pointer_id=pointer.id,
                event_name=result.event_name,
                event_key=result.event_key or "",
                subscribe_as_of=result.event_as_of or pointer.create_time or now,
            )
        )
        return
    if result.proceed:
        complete_pointer(instance, definition, pointer, step, result.outcome_value, now)
        if emit:
            out.events.append(StepCompleted.of(instance, execution_pointer_id=pointer.id, step_id=step.id))
        if step.ends_workflow:
            complete_workflow(instance, now, out)
        return
    # ``children``: the pointers of the container's latest round of branches. Earlier rounds (a while_ loop,
    # a sequential for_each) stay findable by their scope; keeping every round here made the container's
    # own pointer, rewritten on every persist, grow with the loop.
    started = []
    for value in result.branch_values:
        for child_step in step.children:
            child = child_pointer(definition, pointer, child_step, value, now)
            instance.execution_pointers.append(child)
            started.append(child.id)
    pointer.children = started


def open_scopes(unfinished: list[ExecutionPointer]) -> set[str]:
    """Ids of container pointers that still have an unfinished pointer inside their branches."""
    scopes: set[str] = set()
    for p in unfinished:
        if p.scope:
            scopes.update(p.scope)
    return scopes


def waiting_on_children(pointer: ExecutionPointer, scopes: set[str]) -> bool:
    return bool(pointer.children) and pointer.id in scopes


def complete_workflow(instance: WorkflowInstance, now: datetime, out: PassResult) -> None:
    if instance.status is WorkflowStatus.COMPLETE:
        return
    instance.status = WorkflowStatus.COMPLETE
    instance.complete_time = now
    instance.next_execution = None
    out.events.append(WorkflowCompleted.of(instance))


def determine_next_execution(instance: WorkflowInstance, now: datetime, out: PassResult) -> None:
    """Set ``next_execution`` (None: nothing to do until an event) and complete a finished workflow."""
    if instance.status is not WorkflowStatus.RUNNABLE:
        instance.next_execution = None
        return
    unfinished = open_pointers(instance)
    scopes = open_scopes(unfinished)
    next_at: datetime | None = None
    for p in unfinished:
        if not p.active or waiting_on_children(p, scopes):
            continue
        if p.sleep_until is None or p.sleep_until <= now:
            next_at = now
            break
        if next_at is None or p.sleep_until < next_at:
            next_at = p.sleep_until
    if next_at is not None:
        instance.__dict__["next_execution"] = to_millis(next_at)
    elif unfinished:
        instance.__dict__["next_execution"] = None
    else:
        complete_workflow(instance, now, out)
