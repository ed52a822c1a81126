"""What happens when a step raises: retry, suspend, terminate or compensate.

Inside a saga, or on a step that has a compensation, the default is COMPENSATE; elsewhere the
definition's or the host's default (RETRY after ``retry_interval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from liteflow.core.definition import ErrorBehavior, WorkflowDefinition, WorkflowStep
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointer_factory import compensation_pointer, next_pointer
from liteflow.core.engine.pointers import scoped_pointers
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.lifecycle import WorkflowError, WorkflowSuspended, WorkflowTerminated
from liteflow.core.models import (
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
)


@dataclass
class StepFailure:
    instance: WorkflowInstance
    definition: WorkflowDefinition
    pointer: ExecutionPointer
    step: WorkflowStep
    now: datetime
    settings: EngineSettings
    out: PassResult


def error_behavior(step: WorkflowStep, definition: WorkflowDefinition, settings: EngineSettings) -> ErrorBehavior:
    if step.error_behavior is not None:
        return step.error_behavior
    if step.compensates_by_default:
        return ErrorBehavior.COMPENSATE
    return definition.default_error_behavior or settings.default_error_behavior


def retry_delay(step: WorkflowStep, definition: WorkflowDefinition, settings: EngineSettings, attempt: int) -> timedelta:
    """The wait before retry number ``attempt + 1``: ``retry_interval * backoff ** attempt``."""
    interval = step.retry_interval or definition.default_retry_interval or settings.retry_interval
    return interval * (step.retry_backoff**attempt)


def handle_step_error(failure: StepFailure, exc: BaseException) -> None:
    """Record the error and apply the step's error behaviour."""
    message = f"{type(exc).__name__}: {exc}"
    f = failure
    f.out.errors.append(
        ExecutionError(workflow_id=f.instance.id, execution_pointer_id=f.pointer.id, error_time=f.now, message=message)
    )
    f.out.events.append(
        WorkflowError.of(f.instance, message=message, execution_pointer_id=f.pointer.id, step_id=f.step.id)
    )
    apply_behavior(f, f.pointer, f.step, error_behavior(f.step, f.definition, f.settings))


def apply_behavior(f: StepFailure, pointer: ExecutionPointer, step: WorkflowStep, behavior: ErrorBehavior) -> None:
    if behavior is ErrorBehavior.RETRY:
        if step.max_retries is not None and pointer.retry_count >= step.max_retries:
            then = step.behavior_after_retries
            if then is not ErrorBehavior.RETRY:
                apply_behavior(f, pointer, step, then)
                return
        pointer.sleep_until = f.now + retry_delay(step, f.definition, f.settings, pointer.retry_count)
        pointer.retry_count += 1
        pointer.status = PointerStatus.FAILED
    elif behavior is ErrorBehavior.SUSPEND:
        pointer.status = PointerStatus.FAILED
        suspend(f)
    elif behavior is ErrorBehavior.TERMINATE:
        end_pointer(pointer, PointerStatus.FAILED, f.now)
        terminate(f)
    else:
        compensate(f)


def end_pointer(pointer: ExecutionPointer, status: PointerStatus, now: datetime) -> None:
    pointer.active = False
    pointer.end_time = now
    pointer.status = status


def suspend(f: StepFailure) -> None:
    if f.instance.status is WorkflowStatus.RUNNABLE:
        f.instance.status = WorkflowStatus.SUSPENDED
        f.out.events.append(WorkflowSuspended.of(f.instance))


def terminate(f: StepFailure) -> None:
    if f.instance.status in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
        f.instance.status = WorkflowStatus.TERMINATED
        f.instance.complete_time = f.now
        f.out.events.append(WorkflowTerminated.of(f.instance))


def nearest_saga(f: StepFailure) -> ExecutionPointer | None:
    for scope_id in f.pointer.scope:  # innermost first
        parent = f.instance.find_pointer(scope_id)
        if parent is not None and f.definition.steps[parent.step_id].is_saga:
            return parent
    return None


def compensate(f: StepFailure) -> None:
    """Undo: the failed step's compensation, then (inside a saga) every completed step's, newest first."""
    end_pointer(f.pointer, PointerStatus.FAILED, f.now)
    saga = nearest_saga(f)
    if saga is None:
        if f.step.compensation_step_id is None:
            return
        f.pointer.status = PointerStatus.COMPENSATED
        pointers = f.instance.execution_pointers
        pointers.append(compensation_pointer(f.definition, f.pointer, f.step.compensation_step_id, f.pointer.scope, f.now))
        pointers.extend(
            next_pointer(f.definition, f.pointer, o.next_step, f.now) for o in f.step.outcomes if o.matches(None)
        )
        return
    inside = scoped_pointers(f.instance, saga.id)
    for other in inside:
        if other.end_time is None:
            if other.event_name is not None and not other.event_published:
                f.out.ended_subscriptions.append(other.id)
            end_pointer(other, PointerStatus.CANCELLED, f.now)
    order = {p.id: i for i, p in enumerate(f.instance.execution_pointers)}
    completed = sorted(
        (p for p in inside if p.status is PointerStatus.COMPLETE and f.definition.steps[p.step_id].compensation_step_id is not None),
        key=lambda p: (p.end_time, order[p.id]),
        reverse=True,
    )
    undo = ([f.pointer] if f.step.compensation_step_id is not None else []) + completed
    scope = [saga.id, *saga.scope]
    for done in undo:
        done.status = PointerStatus.COMPENSATED
        step_id = f.definition.steps[done.step_id].compensation_step_id
        assert step_id is not None
        f.instance.execution_pointers.append(compensation_pointer(f.definition, done, step_id, scope, f.now))
    after_saga(f, saga)


def after_saga(f: StepFailure, saga: ExecutionPointer) -> None:
    """Once its compensations have run, the saga carries on after itself, or restarts for RETRY."""
    saga_step = f.definition.steps[saga.step_id]
    behavior = saga_step.error_behavior or ErrorBehavior.COMPENSATE
    if behavior is ErrorBehavior.RETRY and saga_step.max_retries is not None and saga.retry_count >= saga_step.max_retries:
        behavior = saga_step.behavior_after_retries
    if behavior is ErrorBehavior.RETRY:
        saga.persistence_data = {"restart": True}
        saga.sleep_until = f.now + retry_delay(saga_step, f.definition, f.settings, saga.retry_count)
        saga.retry_count += 1
        return
    saga.persistence_data = {"compensated": True}
    if behavior is ErrorBehavior.SUSPEND:
        suspend(f)
    elif behavior is ErrorBehavior.TERMINATE:
        terminate(f)
