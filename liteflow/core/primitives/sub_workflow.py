"""``sub_workflow(definition_id, version, data_fn)``: start a child workflow and wait for it to complete.

The child is started with ``parent_workflow_id`` set; when it completes, its host publishes the event
``liteflow.workflow-completed`` keyed by the child's id with the child's final data, which the waiting
step receives (``step.result``, for ``.output``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

if TYPE_CHECKING:
    from liteflow.core.models import WorkflowInstance
    from liteflow.core.services.host import WorkflowHost

CHILD_COMPLETED_EVENT = "liteflow.workflow-completed"


class SubWorkflow(StepBody):
    def __init__(self) -> None:
        self.definition_id: str = ""
        self.version: int | None = None
        self.child_data: Any = None
        #: The child's final data, once it has completed.
        self.result: Any = None
        self.child_id: str | None = None

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        pointer = context.execution_pointer
        if pointer.event_published:
            self.result = pointer.event_data
            self.child_id = pointer.event_key
            return ExecutionResult.next()
        host: WorkflowHost = context.host
        child_id = host.start_instance(
            self.definition_id, self.version, self.child_data, parent_workflow_id=context.workflow.id
        )
        result = ExecutionResult.wait_for_event(CHILD_COMPLETED_EVENT, child_id, pointer.create_time)
        result.persistence_data = {"child_id": child_id}
        return result


def announce_completion(host: WorkflowHost, instance: WorkflowInstance) -> None:
    host.publish_event(CHILD_COMPLETED_EVENT, instance.id, instance.data)
