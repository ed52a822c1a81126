"""``StepBuilder``: configures one step and chains the next; and the builders of a container's blocks
(``ContainerBuilder``, ``ParallelBuilder``, ``WhenBuilder``, ``DecideBuilder``, ``ScheduleBuilder``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from liteflow.core.builder.values import as_data_fn, constant
from liteflow.core.definition import ErrorBehavior, InputMapping, Outcome, OutputMapping, WorkflowStep, positional_arity
from liteflow.core.errors import DefinitionError
from liteflow.core.primitives.containers import Foreach, If, Saga, Sequence, While
from liteflow.core.primitives.end import EndWorkflow
from liteflow.core.primitives.outcomes import DEFAULT_BRANCH, Decide, OutcomeSwitch, When
from liteflow.core.primitives.timers import Delay, Recur, Schedule
from liteflow.core.primitives.wait_for import WaitFor

if TYPE_CHECKING:
    from liteflow.core.builder.workflow_builder import WorkflowBuilder

StepSpec = Any  # a StepBody subclass, or a function of the step context
BlockFn = Callable[["WorkflowBuilder"], Any]
B = TypeVar("B", bound="StepBuilder")


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
        self.step.inputs.append(InputMapping(attr, as_data_fn(fn, f"{self._where()}: input {attr!r}")))
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
        self.step.cancel_condition = as_data_fn(fn, f"{self._where()}: cancel_condition")
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
        nxt.input("event_name", constant(event_name)).input("event_key", key_fn)
        if effective_date is not None:
            nxt.input("effective_date", effective_date)
        return nxt

    def delay(self, period_fn: Any) -> StepBuilder:
        return StepBuilder(self.builder, self._attach(Delay)).input("period", period_fn)

    def for_each(self, collection_fn: Any, run_parallel: bool = True) -> ContainerBuilder:
        nxt = ContainerBuilder(self.builder, self._attach(Foreach))
        nxt.input("collection", collection_fn).input("run_parallel", constant(bool(run_parallel)))
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
        nxt.input("definition_id", constant(definition_id)).input("version", constant(version))
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
        built.input("expected_outcome", constant(value)).input("sibling_outcomes", lambda d, c: list(siblings))
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
