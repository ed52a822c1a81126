"""``WorkflowBuilder``: the flat list of steps of one definition, its do-blocks, and ``build()``."""

from __future__ import annotations

import inspect
from typing import Any

from liteflow.core.builder.step_builder import (
    BlockFn,
    ContainerBuilder,
    DecideBuilder,
    ParallelBuilder,
    ScheduleBuilder,
    StepBuilder,
    StepSpec,
)
from liteflow.core.builder.values import begin
from liteflow.core.definition import WorkflowDefinition, WorkflowStep, function_body
from liteflow.core.definition_checks import check_steps
from liteflow.core.errors import DefinitionError
from liteflow.core.primitives.containers import Foreach, If, Saga, Sequence, While
from liteflow.core.primitives.outcomes import When
from liteflow.core.primitives.timers import Recur, Schedule
from liteflow.core.step import StepBody


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
        return self.start_with(begin, "begin")

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
