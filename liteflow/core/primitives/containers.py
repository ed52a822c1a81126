"""Container steps: steps whose work is done by child branches (sequence, if, while, for_each, saga)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liteflow.core.engine.pointers import branch_complete
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

#: persistence_data of a container whose branches are running.
CHILDREN_ACTIVE = "children_active"


def branches_running(context: StepExecutionContext) -> bool:
    data = context.persistence_data
    return isinstance(data, dict) and bool(data.get(CHILDREN_ACTIVE))


class ContainerStepBody(StepBody):
    """A step that runs child branches; it is re-entered until they have all ended."""

    def branches_done(self, context: StepExecutionContext) -> bool:
        return branch_complete(context.workflow, context.execution_pointer.id)

    @staticmethod
    def start_branches(context: StepExecutionContext, items: list[Any] | None = None, **state: Any) -> ExecutionResult:
        """Run the branches once per item (default: once, for the container's own item)."""
        return ExecutionResult.branch([context.item] if items is None else items, {CHILDREN_ACTIVE: True, **state})

    def once_done(self, context: StepExecutionContext, then: Callable[[], ExecutionResult]) -> ExecutionResult:
        """Stay while the branches run; once they have all ended, ``then()``."""
        if self.branches_done(context):
            return then()
        return ExecutionResult.persist(context.persistence_data)


class Sequence(ContainerStepBody):
    """Runs its branch once (parallel branches, compensation sequences)."""

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not branches_running(context):
            return self.start_branches(context)
        return self.once_done(context, ExecutionResult.next)


class If(ContainerStepBody):
    """Runs its branch once when ``condition`` holds, then carries on."""

    def __init__(self) -> None:
        self.condition: Any = False

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not branches_running(context):
            return self.start_branches(context) if self.condition else ExecutionResult.next()
        return self.once_done(context, ExecutionResult.next)


class While(ContainerStepBody):
    """Runs its branch again and again while ``condition`` holds (checked before each round)."""

    def __init__(self) -> None:
        self.condition: Any = False

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not branches_running(context):
            return self.start_branches(context) if self.condition else ExecutionResult.next()
        return self.once_done(context, lambda: ExecutionResult.persist(None))  # re-enter: check the condition


class Foreach(ContainerStepBody):
    """Runs its branch once per item of ``collection``: all at once, or one after another."""

    def __init__(self) -> None:
        self.collection: Any = ()
        self.run_parallel: bool = True

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        items = list(self.collection or ())
        if not branches_running(context):
            if not items:
                return ExecutionResult.next()
            if self.run_parallel:
                return self.start_branches(context, items)
            return self.start_branches(context, items[:1], index=1)
        if not self.branches_done(context):
            return ExecutionResult.persist(context.persistence_data)
        index = int(context.persistence_data.get("index", len(items)))
        if self.run_parallel or index >= len(items):
            return ExecutionResult.next()
        return self.start_branches(context, [items[index]], index=index + 1)


class Saga(ContainerStepBody):
    """Runs its branch as one transaction: a failure inside compensates the completed steps.

    The error handler marks the saga ``compensated`` (carry on after the compensations have run; with
    ``then`` set, suspend or terminate instead) or ``restart`` (run the branch again once they have, for
    ``on_error(RETRY)``).
    """

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        data = context.persistence_data if isinstance(context.persistence_data, dict) else {}
        if not (data.get(CHILDREN_ACTIVE) or data.get("compensated") or data.get("restart")):
            return self.start_branches(context)
        if not self.branches_done(context):
            return ExecutionResult.persist(data)
        if data.get("restart"):
            return self.start_branches(context)
        if data.get("then"):  # compensated; now suspend or terminate (see engine.errors.saga_gave_up)
            from liteflow.core.definition import ErrorBehavior
            from liteflow.core.engine.errors import SagaGaveUp

            raise SagaGaveUp(ErrorBehavior(data["then"]))
        return ExecutionResult.next()
