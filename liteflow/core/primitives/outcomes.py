"""Choosing branches by value: ``.when(value)`` after a step's outcome, and ``decide(fn).branch(value, ...)``.

An :class:`OutcomeSwitch` runs every :class:`When` child; each ``When`` runs its branch only if its
expected value equals the switch's value (a default ``When`` runs when no other one matches). The switch
carries on once every matching branch has finished.
"""

from __future__ import annotations

from typing import Any

from liteflow.core.primitives.containers import ContainerStepBody, branches_running
from liteflow.core.step import ExecutionResult, StepExecutionContext


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: The expected value of the branch that runs when no other ``when`` matches.
DEFAULT_BRANCH: Any = _Default()


class OutcomeSwitch(ContainerStepBody):
    """Branches into its ``When`` children with the value to match: the previous step's outcome."""

    def value(self, context: StepExecutionContext) -> Any:
        predecessor = context.workflow.find_pointer(context.execution_pointer.predecessor_id or "")
        return predecessor.outcome if predecessor is not None else None

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not branches_running(context):
            result = self.start_branches(context)
            result.outcome_value = self.value(context)
            return result
        return self.once_done(context, ExecutionResult.next)


class Decide(OutcomeSwitch):
    """An outcome switch whose value is computed from the workflow's data (``decide(fn)``)."""

    def __init__(self) -> None:
        self.expression: Any = None

    def value(self, context: StepExecutionContext) -> Any:
        return self.expression


class When(ContainerStepBody):
    """One branch of a switch: runs when ``expected_outcome`` equals the switch's value."""

    def __init__(self) -> None:
        self.expected_outcome: Any = None
        self.sibling_outcomes: list[Any] = []

    def _matches(self, context: StepExecutionContext) -> bool:
        switch = context.workflow.find_pointer(context.execution_pointer.predecessor_id or "")
        value = switch.outcome if switch is not None else None
        if self.expected_outcome is DEFAULT_BRANCH:
            return all(v != value for v in self.sibling_outcomes if v is not DEFAULT_BRANCH)
        return bool(self.expected_outcome == value)

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if not branches_running(context):
            return self.start_branches(context) if self._matches(context) else ExecutionResult.next()
        return self.once_done(context, ExecutionResult.next)
