"""What happens when a step raises: retry, suspend, terminate or compensate.

Inside a saga, or on a step that has a compensation, the default is COMPENSATE; elsewhere the
definition's or the host's default (RETRY after ``retry_interval``).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from liteflow.core.changes import touch
from liteflow.core.definition import ErrorBehavior, WorkflowDefinition, WorkflowStep
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointer_factory import compensation_pointer, next_pointer
from liteflow.core.engine.pointers import scoped_pointers
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.errors import NonRetryableError
from liteflow.core.lifecycle import WorkflowError, WorkflowSuspended, WorkflowTerminated
from liteflow.core.log import logger
from liteflow.core.models import (
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
)

#: A step's failure is logged under the executor's name, wherever the engine finds it.
log = logger("executor")


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


def retry_delay(
    step: WorkflowStep, definition: WorkflowDefinition, settings: EngineSettings, attempt: int
) -> timedelta:
    """The wait before retry number ``attempt + 1``: ``retry_interval * backoff ** attempt`` (an interval
    of zero retries at once)."""
    interval = step.retry_interval
    if interval is None:
        interval = definition.default_retry_interval
    if interval is None:
        interval = settings.retry_interval
    return interval * (step.retry_backoff**attempt)


def describe(exc: BaseException) -> tuple[str, str]:
    """An error's message (``"KeyError: 'x'"``) and its formatted traceback."""
    return f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))


def retryable(step: WorkflowStep, exc: BaseException) -> bool:
    """False for a NonRetryableError and for the step's ``non_retryable`` exception types."""
    return not isinstance(exc, (NonRetryableError, *step.non_retryable))


class SagaGaveUp(Exception):
    """Raised by a saga container once the compensations of its last failure have run, when its error
    behaviour (or the one after its retries) is SUSPEND or TERMINATE: that behaviour applies now."""

    def __init__(self, behavior: ErrorBehavior) -> None:
        super().__init__(f"saga compensated; then {behavior.value}")
        self.behavior = behavior


def fail_step(failure: StepFailure, exc: BaseException) -> None:
    """The step failed with ``exc``: log ``step.failed`` (with the traceback), then :func:`handle_step_error`."""
    log.warning(
        "step.failed",
        workflow_id=failure.instance.id,
        step_id=failure.step.id,
        step=failure.step.display_name,
        pointer_id=failure.pointer.id,
        retry_count=failure.pointer.retry_count,
        error=f"{type(exc).__name__}: {exc}",
        exc_info=exc,
    )
    handle_step_error(failure, exc)


def handle_step_error(failure: StepFailure, exc: BaseException) -> None:
    """Record the error and apply the step's error behaviour."""
    f = failure
    if isinstance(exc, SagaGaveUp):
        saga_gave_up(f, exc.behavior)
        return
    message, details = describe(exc)
    f.out.errors.append(
        ExecutionError(
            workflow_id=f.instance.id,
            execution_pointer_id=f.pointer.id,
            error_time=f.now,
            message=message,
            details=details,
        )
    )
    f.out.events.append(
        WorkflowError.of(f.instance, message=message, execution_pointer_id=f.pointer.id, step_id=f.step.id)
    )
    behavior = error_behavior(f.step, f.definition, f.settings)
    if behavior is ErrorBehavior.RETRY and not retryable(f.step, exc):
        behavior = f.step.behavior_after_retries
        if behavior is ErrorBehavior.RETRY:
            behavior = ErrorBehavior.TERMINATE
    apply_behavior(f, f.pointer, f.step, behavior)


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
        suspended_by_error(pointer)
        suspend(f)
    elif behavior is ErrorBehavior.TERMINATE:
        end_pointer(pointer, PointerStatus.FAILED, f.now)
        terminate(f)
    else:
        compensate(f)


def suspended_by_error(pointer: ExecutionPointer) -> None:
    """Mark ``pointer`` as the one whose error behaviour suspended the workflow: FAILED, not ended, and not
    waiting for a retry (see :func:`fresh_retries`)."""
    pointer.status = PointerStatus.FAILED
    pointer.sleep_until = None


def fresh_retries(instance: WorkflowInstance) -> None:
    """On resume: a step whose error behaviour suspended the workflow gets a fresh set of retries."""
    for pointer in instance.execution_pointers:
        if pointer.status is PointerStatus.FAILED and pointer.end_time is None and pointer.sleep_until is None:
            pointer.retry_count = 0


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


def saga_behavior(step: WorkflowStep) -> ErrorBehavior:
    return step.error_behavior or ErrorBehavior.COMPENSATE


def failure_chain(f: StepFailure) -> list[ExecutionPointer]:
    """The failed pointer and its enclosing pointers up to the saga that handles the failure (last),
    or ``[]`` outside a saga. A saga with the default behaviour (COMPENSATE) inside another saga fails
    as a whole, so the outer saga handles it, as in Workflow Core."""
    chain = [f.pointer]
    handler: ExecutionPointer | None = None
    for scope_id in f.pointer.scope:  # innermost first
        parent = f.instance.find_pointer(scope_id)
        if parent is None:
            break
        chain.append(parent)
        step = f.definition.steps[parent.step_id]
        if step.is_saga:
            handler = parent
            if saga_behavior(step) is not ErrorBehavior.COMPENSATE:
                break
    if handler is None:
        return []
    return chain[: chain.index(handler) + 1]


def has_compensation(f: StepFailure, pointer: ExecutionPointer) -> bool:
    return f.definition.steps[pointer.step_id].compensation_step_id is not None


def compensate(f: StepFailure) -> None:
    """Undo: the failed step's compensation, then (inside a saga) every completed step's, newest first."""
    end_pointer(f.pointer, PointerStatus.FAILED, f.now)
    chain = failure_chain(f)
    if not chain:
        if f.step.compensation_step_id is None:
            return
        f.pointer.status = PointerStatus.COMPENSATED
        pointers = f.instance.execution_pointers
        step_id = f.step.compensation_step_id
        pointers.append(compensation_pointer(f.definition, f.pointer, step_id, f.pointer.scope, f.now))
        pointers.extend(
            next_pointer(f.definition, f.pointer, o.next_step, f.now) for o in f.step.outcomes if o.matches(None)
        )
        return
    saga = chain[-1]
    inside = scoped_pointers(f.instance, saga.id)
    for other in inside:
        if other.end_time is None:
            if other.event_name is not None and not other.event_published:
                f.out.ended_subscriptions.append(other.id)
            end_pointer(other, PointerStatus.FAILED if other.id in f.pointer.scope else PointerStatus.CANCELLED, f.now)
    order = {p.id: i for i, p in enumerate(f.instance.execution_pointers)}
    undo: list[ExecutionPointer] = []
    # level by level, innermost first: the failed (or failing container) pointer's own compensation, then
    # the completed steps around it (at any depth below its parent), newest first
    for node, parent in pairwise(chain):
        if has_compensation(f, node):
            undo.append(node)
        undo.extend(
            sorted(
                (
                    p
                    for p in inside
                    if parent.id in p.scope
                    and node.id not in p.scope
                    and p.status is PointerStatus.COMPLETE
                    and has_compensation(f, p)
                ),
                key=lambda p: (p.end_time, order[p.id]),
                reverse=True,
            )
        )
    saga_step = f.definition.steps[saga.step_id]
    own = saga_step.compensation_step_id is not None and saga_behavior(saga_step) is ErrorBehavior.COMPENSATE
    if own:
        undo.append(saga)
    queue_compensations(f, undo, [saga.id, *saga.scope])
    if own:
        saga.status = PointerStatus.RUNNING  # it carries on once its compensations have run
    after_saga(f, saga)


def queue_compensations(f: StepFailure, undo: list[ExecutionPointer], scope: list[str]) -> None:
    """Add the compensations, run one after another (each waits, inactive, for its predecessor)."""
    previous: ExecutionPointer | None = None
    for done in undo:
        done.status = PointerStatus.COMPENSATED
        touch(f.instance, done)  # it may have ended passes ago: providers storing changes only must know
        step_id = f.definition.steps[done.step_id].compensation_step_id
        assert step_id is not None
        pointer = compensation_pointer(f.definition, done, step_id, scope, f.now)
        if previous is not None:
            pointer.active = False
            pointer.predecessor_id = previous.id
        f.instance.execution_pointers.append(pointer)
        previous = pointer


def after_saga(f: StepFailure, saga: ExecutionPointer) -> None:
    """Once its compensations have run, the saga carries on after itself, or restarts for RETRY."""
    saga_step = f.definition.steps[saga.step_id]
    behavior = saga_step.error_behavior or ErrorBehavior.COMPENSATE
    retries = saga_step.max_retries
    if behavior is ErrorBehavior.RETRY and retries is not None and saga.retry_count >= retries:
        behavior = saga_step.behavior_after_retries
    if behavior is ErrorBehavior.RETRY:
        saga.persistence_data = {"restart": True}
        saga.sleep_until = f.now + retry_delay(saga_step, f.definition, f.settings, saga.retry_count)
        saga.retry_count += 1
        return
    saga.persistence_data = {"compensated": True}
    if behavior in (ErrorBehavior.SUSPEND, ErrorBehavior.TERMINATE):
        # the compensations run first; the saga then raises SagaGaveUp (see saga_gave_up)
        saga.persistence_data["then"] = behavior.value


def saga_gave_up(f: StepFailure, behavior: ErrorBehavior) -> None:
    """A saga whose compensations have run: TERMINATE ends the workflow; SUSPEND suspends it, and
    resuming runs the saga again from its first step."""
    if behavior is ErrorBehavior.TERMINATE:
        end_pointer(f.pointer, PointerStatus.FAILED, f.now)
        terminate(f)
        return
    f.pointer.persistence_data = {"restart": True}
    suspended_by_error(f.pointer)
    suspend(f)
