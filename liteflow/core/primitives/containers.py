"""Container steps: steps whose work is done by child branches (sequence, if, while, for_each, saga)."""

from __future__ import annotations

from typing import Any

from liteflow.core.engine.pointers import branch_complete
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

#: persistence_data of a container whose branches are running.
CHILDREN_ACTIVE = "children_active"


def _running(context: StepExecutionContext) -> bool:
    data = context.persistence_data
    return isinstance(data, dict) and bool(data.get(CHILDREN_ACTIVE))


class ContainerStepBody(StepBody):
    """A step that runs child branches; it is re-entered until they have all ended."""

    def branches_done(self, context: StepExecutionContext) -> bool:
        return branch_complete(context.workflow, context.execution_pointer.id)


class Sequence(ContainerStepBody):
    """Runs its branch once (parallel branches, compensation sequences)."""

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not _running(context):
            return ExecutionResult.branch([context.item], {CHILDREN_ACTIVE: True})
        if self.branches_done(context):
            return ExecutionResult.next()
        return ExecutionResult.persist(context.persistence_data)


class If(ContainerStepBody):
    """Runs its branch once when ``condition`` holds, then carries on."""

    def __init__(self) -> None:
        self.condition: Any = False

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not _running(context):
            if self.condition:
                return ExecutionResult.branch([context.item], {CHILDREN_ACTIVE: True})
            return ExecutionResult.next()
        if self.branches_done(context):
            return ExecutionResult.next()
        return ExecutionResult.persist(context.persistence_data)


class While(ContainerStepBody):
    """Runs its branch again and again while ``condition`` holds (checked before each round)."""

    def __init__(self) -> None:
        self.condition: Any = False

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not _running(context):
            if self.condition:
                return ExecutionResult.branch([context.item], {CHILDREN_ACTIVE: True})
            return ExecutionResult.next()
        if self.branches_done(context):
            return ExecutionResult.persist(None)  # re-enter: evaluate the condition again
        return ExecutionResult.persist(context.persistence_data)


class Foreach(ContainerStepBody):
    """Runs its branch once per item of ``collection``: all at once, or one after another."""

    def __init__(self) -> None:
        self.collection: Any = ()
        self.run_parallel: bool = True

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        items = list(self.collection or ())
        if not _running(context):
            if not items:
                return ExecutionResult.next()
            if self.run_parallel:
                return ExecutionResult.branch(items, {CHILDREN_ACTIVE: True})
            return ExecutionResult.branch([items[0]], {CHILDREN_ACTIVE: True, "index": 1})
        if not self.branches_done(context):
            return ExecutionResult.persist(context.persistence_data)
        index = int(context.persistence_data.get("index", len(items)))
        if self.run_parallel or index >= len(items):
            return ExecutionResult.next()
        return ExecutionResult.branch([items[index]], {CHILDREN_ACTIVE: True, "index": index + 1})


class Saga(ContainerStepBody):
    """Runs its branch as one transaction: a failure inside compensates the completed steps.

    The error handler marks the saga ``compensated`` (carry on after the compensations have run; with
    ``then`` set, suspend or terminate instead) or ``restart`` (run the branch again once they have, for
    ``on_error(RETRY)``).
    """

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        data = context.persistence_data if isinstance(context.persistence_data, dict) else {}
        if not (data.get(CHILDREN_ACTIVE) or data.get("compensated") or data.get("restart")):
            return ExecutionResult.branch([context.item], {CHILDREN_ACTIVE: True})
        if not self.branches_done(context):
            return ExecutionResult.persist(data)
        if data.get("restart"):
            return ExecutionResult.branch([context.item], {CHILDREN_ACTIVE: True})
        if data.get("then"):  # compensated; now suspend or terminate (see engine.errors.saga_gave_up)
            from liteflow.core.definition import ErrorBehavior
            from liteflow.core.engine.errors import SagaGaveUp

            raise SagaGaveUp(ErrorBehavior(data["then"]))
        return ExecutionResult.next()
