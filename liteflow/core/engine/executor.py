"""One execution pass over a workflow instance: run every runnable pointer's step and apply the results."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from liteflow.core.definition import WorkflowDefinition, WorkflowStep
from liteflow.core.engine.errors import StepFailure, end_pointer, fail_step
from liteflow.core.engine.limits import cap_at_deadline, end_if_timed_out
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointers import open_pointers, scoped_pointers
from liteflow.core.engine.result_processor import (
    complete_pointer,
    complete_workflow,
    determine_next_execution,
    open_scopes,
    process_result,
    waiting_on_children,
)
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.lifecycle import StepStarted
from liteflow.core.log import logger
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus, utcnow
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

log = logger("executor")
_debug_logger = logging.getLogger("liteflow.executor")

#: ``fn(context, body, next) -> ExecutionResult``; ``next()`` runs the rest of the chain and the step.
StepMiddleware = Callable[[StepExecutionContext, StepBody, Callable[[], Any]], Any]
CoroutineRunner = Callable[[Awaitable[Any]], Any]


class WorkflowExecutor:
    """Runs the runnable pointers of one instance. The caller holds the instance's lock."""

    def __init__(
        self,
        settings: EngineSettings,
        run_coroutine: CoroutineRunner,
        middleware: list[StepMiddleware] | None = None,
        host: Any = None,
        wants_step_events: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.run_coroutine = run_coroutine
        self.middleware = middleware if middleware is not None else []
        #: ``(guard, middleware)`` pairs: middleware that wraps a step only while ``guard()`` is true (spans
        #: while a tracer provider is set), outside the others; see :meth:`add_middleware_while`
        self.guarded: list[tuple[Callable[[], bool], StepMiddleware]] = []
        self.host = host
        self.wants_step_events = wants_step_events
        #: the step each thread is running now (thread ident -> its context), for a stopping host to name
        self.running: dict[int, StepExecutionContext] = {}

    def execute(self, instance: WorkflowInstance, definition: WorkflowDefinition) -> PassResult:
        out = PassResult()
        now = utcnow()
        hook = definition.extra.get("pass_hook")  # e.g. a template's deadline: check(), after()
        if hook is not None:
            hook.check(instance, now, out)
        if definition.timeout is not None and end_if_timed_out(instance, definition, now, out):
            return out
        cancellable = definition.has_cancel_conditions
        if cancellable:
            self.process_cancellations(instance, definition, now, out)
        unfinished = open_pointers(instance)
        scopes = open_scopes(unfinished)
        runnable = [
            p
            for p in unfinished
            if p.active and (p.sleep_until is None or p.sleep_until <= now) and not waiting_on_children(p, scopes)
        ]
        emit = self.wants_step_events()
        for pointer in runnable:
            if instance.status is not WorkflowStatus.RUNNABLE:
                break
            self.execute_pointer(instance, definition, pointer, now, out, emit)
        if cancellable:
            self.process_cancellations(instance, definition, now, out)
        if hook is not None:
            hook.check(instance, utcnow(), out)
        determine_next_execution(instance, now, out)
        if hook is not None:
            hook.after(instance)
        if definition.timeout is not None:
            cap_at_deadline(instance, definition)
        return out

    def execute_pointer(
        self,
        instance: WorkflowInstance,
        definition: WorkflowDefinition,
        pointer: ExecutionPointer,
        now: datetime,
        out: PassResult,
        emit: bool,
    ) -> None:
        step = definition.steps[pointer.step_id]
        fields = pointer.__dict__  # no validation to skip: see models._Persisted
        if fields["start_time"] is None:
            fields["start_time"] = now
            if emit:
                out.events.append(StepStarted.of(instance, execution_pointer_id=pointer.id, step_id=step.id))
        fields["status"] = PointerStatus.RUNNING
        out.steps_run += 1
        out.ran.append(pointer.id)
        if _debug_logger.isEnabledFor(logging.DEBUG):
            log.debug(
                "step.started", workflow_id=instance.id, step_id=step.id, step=step.display_name, pointer_id=pointer.id
            )
        context = StepExecutionContext(instance, step, pointer, pointer.persistence_data, self.host)
        try:
            body = step.new_body()
            for mapping in step.inputs:
                mapping.apply(body, instance.data, context)
            result = self.run_step(body, context)
            if result.proceed:
                for output in step.outputs:
                    output.apply(body, instance.data)
        except Exception as exc:
            fail_step(StepFailure(instance, definition, pointer, step, now, self.settings, out), exc)
            return
        process_result(instance, definition, pointer, step, result, now, out, emit)

    def add_middleware_while(self, guard: Callable[[], bool], middleware: StepMiddleware) -> None:
        """Wrap every step in ``middleware`` while ``guard()`` holds (asked before each step; it must be
        cheap). Steps run without it otherwise: no chain is built around a step that needs none."""
        self.guarded.append((guard, middleware))

    def run_step(self, body: StepBody, context: StepExecutionContext) -> ExecutionResult:
        wrappers = self.middleware
        for guard, middleware in reversed(self.guarded):  # the first registered outermost
            if guard():
                wrappers = [middleware, *wrappers]
        call = self._chain(body, context, wrappers) if wrappers else None
        thread = threading.get_ident()
        self.running[thread] = context
        try:
            result = self._invoke(body, context) if call is None else call()
        finally:
            del self.running[thread]
        if result is None:
            return ExecutionResult.next()
        if type(result) is not ExecutionResult and not isinstance(result, ExecutionResult):
            raise TypeError(f"step returned {type(result).__name__}, expected an ExecutionResult or None")
        return result

    def _invoke(self, body: StepBody, context: StepExecutionContext) -> Any:
        value = body.run(context)
        if value is not None and type(value) is not ExecutionResult and inspect.isawaitable(value):
            value = self.run_coroutine(value)
        return value

    def _chain(
        self, body: StepBody, context: StepExecutionContext, wrappers: list[StepMiddleware]
    ) -> Callable[[], Any]:
        """The step inside ``wrappers``, the first outermost."""

        def invoke() -> Any:
            return self._invoke(body, context)

        call: Callable[[], Any] = invoke
        for middleware in reversed(wrappers):
            call = _wrap(middleware, context, body, call)
        return call

    def process_cancellations(
        self, instance: WorkflowInstance, definition: WorkflowDefinition, now: datetime, out: PassResult
    ) -> None:
        """End pointers whose step's ``cancel_condition`` now holds (and everything inside them)."""
        for pointer in open_pointers(instance):
            if pointer.end_time is not None:  # ended by an earlier cancellation in this loop
                continue
            step = definition.steps[pointer.step_id]
            if step.cancel_condition is None or not self._cancel_condition_holds(instance, step, pointer):
                continue
            cancel_pointer(pointer, now, out)
            if step.proceed_after_cancel:
                complete_pointer(instance, definition, pointer, step, None, now)
            pointer.status = PointerStatus.CANCELLED  # as in Workflow Core, even when it proceeds
            for inner in scoped_pointers(instance, pointer.id):
                if inner.end_time is None:
                    cancel_pointer(inner, now, out)
            if step.ends_workflow:
                complete_workflow(instance, now, out)

    def _cancel_condition_holds(
        self, instance: WorkflowInstance, step: WorkflowStep, pointer: ExecutionPointer
    ) -> bool:
        assert step.cancel_condition is not None
        context = StepExecutionContext(instance, step, pointer, pointer.persistence_data, self.host)
        try:
            return bool(step.cancel_condition(instance.data, context))
        except Exception as exc:
            log.warning("step.cancel_condition_failed", workflow_id=instance.id, step_id=step.id, error=str(exc))
            return False


def cancel_pointer(pointer: ExecutionPointer, now: datetime, out: PassResult) -> None:
    if pointer.event_name is not None and not pointer.event_published:
        out.ended_subscriptions.append(pointer.id)
    end_pointer(pointer, PointerStatus.CANCELLED, now)


def _wrap(
    middleware: StepMiddleware, context: StepExecutionContext, body: StepBody, nxt: Callable[[], Any]
) -> Callable[[], Any]:
    def call() -> Any:
        return middleware(context, body, nxt)

    return call
