"""``end_workflow()``: completes the workflow when reached."""

from __future__ import annotations

from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext


class EndWorkflow(StepBody):
    """Reaching this step completes the workflow (the executor sees ``WorkflowStep.ends_workflow``)."""

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.next()
