"""The fluent builder: ``builder.start_with(A).then(B).input(...).output(...)...``.

Every user callable in a definition takes ``(data, context)``; ``.output`` takes ``fn(step)`` or
``fn(step, data)``; a do-block takes ``fn(builder)``. Each verb appends :class:`WorkflowStep` objects
to one flat list owned by the :class:`WorkflowBuilder`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from liteflow.core.definition import (
    ANY_OUTCOME,
    DataFn,
    ErrorBehavior,
    InputMapping,
    Outcome,
    OutputMapping,
    WorkflowDefinition,
    WorkflowStep,
    function_body,
    positional_arity,
)
from liteflow.core.definition_checks import check_steps
from liteflow.core.errors import DefinitionError
from liteflow.core.primitives.containers import Foreach, If, Saga, Sequence, While
from liteflow.core.primitives.end import EndWorkflow
from liteflow.core.primitives.outcomes import DEFAULT_BRANCH, Decide, OutcomeSwitch, When
from liteflow.core.primitives.timers import Delay, Recur, Schedule
from liteflow.core.primitives.wait_for import WaitFor
from liteflow.core.step import StepBody

StepSpec = Any  # a StepBody subclass, or a function of the step context
BlockFn = Callable[["WorkflowBuilder"], Any]
B = TypeVar("B", bound="StepBuilder")


def _constant(value: Any) -> DataFn:
    def fn(data: Any, context: Any) -> Any:
        return value

    return fn


def _begin(context: Any) -> None:
    """The no-op first step of a workflow or branch that begins with a primitive."""


def _data_fn(fn: Any, what: str) -> DataFn:
    """Accept ``fn(data, context)`` or, leniently, ``fn(data)``; a non-callable is a constant."""
    if not callable(fn):
        return _constant(fn)
    if positional_arity(fn) >= 2:
        return fn  # type: ignore[no-any-return,unused-ignore]
    if positional_arity(fn) == 1:

        def adapted(data: Any, context: Any) -> Any:
            return fn(data)

        return adapted
    raise DefinitionError(f"{what} must be a function of (data, context)")


class WorkflowBuilder:
    """Collects the steps of one definition. Do-blocks get a branch builder sharing the same steps."""

    def __init__(self, steps: list[WorkflowStep] | None = None, in_saga: bool = False) -> None:
        self.steps: list[WorkflowStep] = [] if steps is None else steps
        self.roots: list[int] = []
        self.in_saga = in_saga

    # -- adding steps ------------------------------------------------------------------------------------
    def add_step(self, spec: StepSpec, name: str | None = None) -> WorkflowStep:
        step_id = len(self.steps)
        if inspect.isclass(spec) and issubclass(spec, StepBody):
            step = WorkflowStep(id=step_id, body_factory=spec, body_type=spec, name=name)
        elif inspect.isclass(spec):
            raise DefinitionError(f"step {step_id}: {spec.__name__} is not a StepBody subclass")
        elif isinstance(spec, StepBody):
            raise DefinitionError(
                f"step {step_id}: pass the class {type(spec).__name__}, not an instance "
                "(a step body is created fresh for every execution)"
            )
        elif callable(spec):
            step = WorkflowStep(
                id=step_id,
                body_factory=function_body(spec),
                body_type=type(spec),
                name=name or getattr(spec, "__name__", None),
            )
            if step.name == "<lambda>":
                step.name = None
        else:
            raise DefinitionError(f"step {step_id}: {spec!r} is neither a StepBody subclass nor a function")
        step.compensates_by_default = self.in_saga
        self.steps.append(step)
        return step

    def start_with(self, spec: StepSpec, name: str | None = None) -> StepBuilder:
        step = self.add_step(spec, name)
        self.roots.append(step.id)
        return StepBuilder(self, step)

    # -- a workflow or branch that begins with a primitive (as in Workflow Core: a no-op first step) ------
    def _start(self) -> StepBuilder:
        return self.start_with(_begin, "begin")

    def then(self, spec: StepSpec, name: str | None = None) -> StepBuilder:
        return self.start_with(spec, name)

    def wait_for(self, event_name: str, key_fn: Any, effective_date: Any = None) -> StepBuilder:
        return self._start().wait_for(event_name, key_fn, effective_date)

    def delay(self, period_fn: Any) -> StepBuilder:
        return self._start().delay(period_fn)

    def for_each(self, collection_fn: Any, run_parallel: bool = True) -> ContainerBuilder:
        return self._start().for_each(collection_fn, run_parallel)

    def while_(self, condition: Any) -> ContainerBuilder:
        return self._start().while_(condition)

    def if_(self, condition: Any) -> ContainerBuilder:
        return self._start().if_(condition)

    def saga(self, fn: BlockFn) -> StepBuilder:
        return self._start().saga(fn)

    def parallel(self) -> ParallelBuilder:
        return self._start().parallel()

    def decide(self, fn: Any) -> DecideBuilder:
        return self._start().decide(fn)

    def schedule(self, interval_fn: Any) -> ScheduleBuilder:
        return self._start().schedule(interval_fn)

    def recur(self, interval_fn: Any, until_fn: Any) -> ScheduleBuilder:
        return self._start().recur(interval_fn, until_fn)

    def end_workflow(self) -> StepBuilder:
        return self._start().end_workflow()

    def sub_workflow(self, definition_id: str, version: int | None = None, data_fn: Any = None) -> StepBuilder:
        return self._start().sub_workflow(definition_id, version, data_fn)

    def branch_builder(self, in_saga: bool | None = None) -> WorkflowBuilder:
        return WorkflowBuilder(self.steps, self.in_saga if in_saga is None else in_saga)

    def build_block(self, fn: BlockFn, where: WorkflowStep, in_saga: bool | None = None) -> list[int]:
        """Run a do-block; return the first step of each chain it started."""
        if not callable(fn):
            raise DefinitionError(f"step {where.id} ({where.display_name}): do() takes a function of a builder")
        branch = self.branch_builder(in_saga)
        fn(branch)
        if not branch.roots:
            raise DefinitionError(
                f"step {where.id} ({where.display_name}): the do-block started no steps (call start_with)"
            )
        return branch.roots

    def build(
        self,
        definition_id: str,
        version: int,
        data_type: type | None = None,
        description: str | None = None,
    ) -> WorkflowDefinition:
        if not self.steps:
            raise DefinitionError(f"workflow {definition_id!r} version {version}: build() added no steps")
        validate_steps(definition_id, self.steps)
        check_steps(definition_id, self.steps, data_type)
        return WorkflowDefinition(
            id=definition_id, version=version, steps=self.steps, data_type=data_type, description=description
        )


def validate_steps(definition_id: str, steps: list[WorkflowStep]) -> None:
    """Check references between steps and container do-blocks."""
    count = len(steps)
    for step in steps:
        where = f"workflow {definition_id!r}, step {step.id} ({step.display_name})"
        for outcome in step.outcomes:
            if not 0 <= outcome.next_step < count:
                raise DefinitionError(f"{where}: links to a step that does not exist")
        needs_children = issubclass(step.body_type, (Foreach, While, If, Saga, Schedule, Recur, When, Sequence))
        if needs_children and not step.children:
            raise DefinitionError(f"{where}: has no do-block")
        if step.compensation_step_id is not None and not 0 <= step.compensation_step_id < count:
            raise DefinitionError(f"{where}: its compensation step does not exist")


class StepBuilder:
    """Configures one step and chains the next ones."""

    def __init__(self, builder: WorkflowBuilder, step: WorkflowStep) -> None:
        self.builder = builder
        self.step = step

    def _where(self) -> str:
        return f"step {self.step.id} ({self.step.display_name})"

    # -- this step -----------------------------------------------------------------------------------------
    def name(self: B, name: str) -> B:
        if not isinstance(name, str):
            raise DefinitionError(f"{self._where()}: name() takes a string")
        self.step.name = name
        return self

    def input(self: B, attr: str, fn: Any) -> B:
        if not isinstance(attr, str) or not attr:
            raise DefinitionError(f"{self._where()}: input() takes an attribute name, got {attr!r}")
        self.step.inputs.append(InputMapping(attr, _data_fn(fn, f"{self._where()}: input {attr!r}")))
        return self

    def output(self: B, target: Any, fn: Any = None) -> B:
        """``.output("attr", lambda step: ...)``, ``.output("attr", lambda step, data: ...)`` or
        ``.output(lambda step, data: ...)`` for outputs that are not a plain attribute."""
        if fn is None:
            if not callable(target):
                raise DefinitionError(f"{self._where()}: output() takes (data_attr, fn) or fn(step, data)")
            self.step.outputs.append(OutputMapping(None, target, takes_data=positional_arity(target) >= 2))
            return self
        if not isinstance(target, str) or not target:
            raise DefinitionError(f"{self._where()}: output() takes a data attribute name, got {target!r}")
        if not callable(fn):
            raise DefinitionError(f"{self._where()}: output {target!r} needs a function of the step")
        self.step.outputs.append(OutputMapping(target, fn, takes_data=positional_arity(fn) >= 2))
        return self

    def on_error(
        self: B,
        behavior: ErrorBehavior,
        retry_interval: timedelta | float | None = None,
        max_retries: int | None = None,
        backoff: float = 1.0,
        then: ErrorBehavior = ErrorBehavior.TERMINATE,
        non_retryable: tuple[type[BaseException], ...] = (),
    ) -> B:
        """``non_retryable``: exception types that are not retried (as NonRetryableError): ``then`` applies."""
        if not isinstance(behavior, ErrorBehavior):
            raise DefinitionError(f"{self._where()}: on_error() takes an ErrorBehavior, got {behavior!r}")
        if isinstance(retry_interval, (int, float)):
            retry_interval = timedelta(seconds=retry_interval)
        if max_retries is not None and max_retries < 0:
            raise DefinitionError(f"{self._where()}: max_retries must be >= 0")
        if backoff <= 0:
            raise DefinitionError(f"{self._where()}: backoff must be > 0")
        if isinstance(non_retryable, type):
            non_retryable = (non_retryable,)
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in non_retryable):
            raise DefinitionError(f"{self._where()}: non_retryable takes exception types, got {non_retryable!r}")
        self.step.non_retryable = tuple(non_retryable)
        self.step.error_behavior = behavior
        self.step.retry_interval = retry_interval
        self.step.max_retries = max_retries
        self.step.retry_backoff = backoff
        self.step.behavior_after_retries = then
        return self

    def compensate_with(self: B, spec: StepSpec) -> B:
        compensation = self.builder.branch_builder(in_saga=False).add_step(spec)
        self.step.compensation_step_id = compensation.id
        self.step.compensates_by_default = True
        return self

    def compensate_with_sequence(self: B, fn: BlockFn) -> B:
        sequence = self.builder.branch_builder(in_saga=False).add_step(Sequence)
        sequence.children = self.builder.build_block(fn, sequence, in_saga=False)
        self.step.compensation_step_id = sequence.id
        self.step.compensates_by_default = True
        return self

    def cancel_condition(self: B, fn: Any, proceed_after_cancel: bool = False) -> B:
        self.step.cancel_condition = _data_fn(fn, f"{self._where()}: cancel_condition")
        self.step.proceed_after_cancel = proceed_after_cancel
        return self

    # -- chaining ------------------------------------------------------------------------------------------
    def _attach(self, spec: StepSpec, name: str | None = None) -> WorkflowStep:
        step = self.builder.add_step(spec, name)
        self.step.outcomes.append(Outcome(step.id))
        return step

    def then(self, spec: StepSpec, name: str | None = None) -> StepBuilder:
        return StepBuilder(self.builder, self._attach(spec, name))

    def wait_for(self, event_name: str, key_fn: Any, effective_date: Any = None) -> StepBuilder:
        if not isinstance(event_name, str) or not event_name:
            raise DefinitionError(f"{self._where()}: wait_for() needs an event name")
        nxt = StepBuilder(self.builder, self._attach(WaitFor))
        nxt.input("event_name", _constant(event_name)).input("event_key", key_fn)
        if effective_date is not None:
            nxt.input("effective_date", effective_date)
        return nxt

    def delay(self, period_fn: Any) -> StepBuilder:
        return StepBuilder(self.builder, self._attach(Delay)).input("period", period_fn)

    def for_each(self, collection_fn: Any, run_parallel: bool = True) -> ContainerBuilder:
        nxt = ContainerBuilder(self.builder, self._attach(Foreach))
        nxt.input("collection", collection_fn).input("run_parallel", _constant(bool(run_parallel)))
        return nxt

    def while_(self, condition: Any) -> ContainerBuilder:
        return ContainerBuilder(self.builder, self._attach(While)).input("condition", condition)

    def if_(self, condition: Any) -> ContainerBuilder:
        return ContainerBuilder(self.builder, self._attach(If)).input("condition", condition)

    def saga(self, fn: BlockFn) -> StepBuilder:
        step = self._attach(Saga)
        step.is_saga = True
        step.children = self.builder.build_block(fn, step, in_saga=True)
        return StepBuilder(self.builder, step)

    def parallel(self) -> ParallelBuilder:
        return ParallelBuilder(self.builder, self._attach(Sequence, "parallel"))

    def decide(self, fn: Any) -> DecideBuilder:
        return DecideBuilder(self.builder, self._attach(Decide)).input("expression", fn)

    def when(self, value: Any, label: str | None = None) -> WhenBuilder:
        switch = self if issubclass(self.step.body_type, OutcomeSwitch) else self.then(OutcomeSwitch)
        return WhenBuilder.add(switch, value, label)

    def otherwise(self) -> WhenBuilder:
        """The branch that runs when no ``when`` value matches the outcome."""
        return self.when(DEFAULT_BRANCH, "otherwise")

    def schedule(self, interval_fn: Any) -> ScheduleBuilder:
        step = self._attach(Schedule)
        return ScheduleBuilder(self, step).input("interval", interval_fn)

    def recur(self, interval_fn: Any, until_fn: Any) -> ScheduleBuilder:
        step = self._attach(Recur)
        return ScheduleBuilder(self, step).input("interval", interval_fn).input("stop_condition", until_fn)

    def end_workflow(self) -> StepBuilder:
        step = self._attach(EndWorkflow, "end_workflow")
        step.ends_workflow = True
        return StepBuilder(self.builder, step)

    def sub_workflow(self, definition_id: str, version: int | None = None, data_fn: Any = None) -> StepBuilder:
        from liteflow.core.primitives.sub_workflow import SubWorkflow

        nxt = StepBuilder(self.builder, self._attach(SubWorkflow, f"sub_workflow:{definition_id}"))
        nxt.input("definition_id", _constant(definition_id)).input("version", _constant(version))
        if data_fn is not None:
            nxt.input("child_data", data_fn)
        return nxt


class ContainerBuilder(StepBuilder):
    """A container step (``for_each``, ``while_``, ``if_``) waiting for its ``.do(...)`` block."""

    def do(self, fn: BlockFn) -> StepBuilder:
        self.step.children = self.builder.build_block(fn, self.step)
        return StepBuilder(self.builder, self.step)


class ParallelBuilder(StepBuilder):
    """``parallel().do(branch).do(branch)...join()``."""

    def do(self, fn: BlockFn) -> ParallelBuilder:
        self.step.children.extend(self.builder.build_block(fn, self.step))
        return self

    def join(self) -> StepBuilder:
        if not self.step.children:
            raise DefinitionError(f"{self._where()}: parallel() needs at least one do() branch before join()")
        return StepBuilder(self.builder, self.step)


class WhenBuilder(StepBuilder):
    """One ``when(value)`` branch; ``.do(...)`` returns the switch so ``.when`` chains and ``.then`` follows."""

    switch: StepBuilder

    @classmethod
    def add(cls, switch: StepBuilder, value: Any, label: str | None) -> WhenBuilder:
        siblings = switch.step.branch_values
        siblings.append(value)
        step = switch.builder.add_step(When, label or f"when:{value!r}")
        switch.step.children.append(step.id)
        built = cls(switch.builder, step)
        built.switch = switch
        built.input("expected_outcome", _constant(value)).input("sibling_outcomes", lambda d, c: list(siblings))
        return built

    def do(self, fn: BlockFn) -> StepBuilder:
        self.step.children = self.builder.build_block(fn, self.step)
        return self.switch


class DecideBuilder(StepBuilder):
    """``decide(fn).branch(value, lambda b: ...)...``: the branches whose value equals ``fn``'s result run."""

    def branch(self, value: Any, fn: BlockFn) -> DecideBuilder:
        WhenBuilder.add(self, value, f"branch:{value!r}").do(fn)
        return self


class ScheduleBuilder(StepBuilder):
    """``schedule(...)``/``recur(...)``: ``.do(...)`` returns the step *before* it, so what follows runs
    without waiting for the scheduled branch."""

    def __init__(self, previous: StepBuilder, step: WorkflowStep) -> None:
        super().__init__(previous.builder, step)
        self.previous = previous

    def do(self, fn: BlockFn) -> StepBuilder:
        self.step.children = self.builder.build_block(fn, self.step)
        return self.previous


__all__ = [
    "ANY_OUTCOME",
    "ContainerBuilder",
    "DecideBuilder",
    "ParallelBuilder",
    "ScheduleBuilder",
    "StepBuilder",
    "WhenBuilder",
    "WorkflowBuilder",
]
