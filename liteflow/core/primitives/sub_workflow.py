"""``sub_workflow(definition_id, version, data_fn)``: start a child workflow and wait for it to complete.

The child is started with ``parent_workflow_id`` set; when it completes, its host publishes the event
``liteflow.workflow-completed`` keyed by the child's id with the child's final data, which the waiting
step receives (``step.result``, for ``.output``). When the child is terminated instead, the same event
carries a marker and the waiting step raises :class:`ChildWorkflowTerminated`: the parent step's error
behaviour applies (a retry starts a new child).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from liteflow.core.errors import LiteFlowError, WorkflowNotFoundError
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

if TYPE_CHECKING:
    from liteflow.core.models import WorkflowInstance
    from liteflow.core.services.host import WorkflowHost

CHILD_COMPLETED_EVENT = "liteflow.workflow-completed"
_CHILD_IDS = uuid.UUID("6f1c1e0a-3c55-4f57-9d0e-2b1a3c4d5e6f")
#: The key of the event data announcing a terminated child (the value is the child's id).
CHILD_TERMINATED = "liteflow.child-terminated"


class ChildWorkflowTerminated(LiteFlowError):
    """The child workflow of a ``sub_workflow`` step was terminated."""


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
            data = pointer.event_data
            if isinstance(data, dict) and CHILD_TERMINATED in data:
                # forget this child: a retry of the step starts a new one
                pointer.event_published = False
                pointer.event_name = pointer.event_key = pointer.event_data = None
                raise ChildWorkflowTerminated(
                    f"child workflow {data[CHILD_TERMINATED]} ({self.definition_id!r}) was terminated"
                )
            self.result = data
            self.child_id = pointer.event_key
            return ExecutionResult.next()
        host: WorkflowHost = context.host
        # The same id for every run of this attempt: a run repeated after a lost pass (a crash, a lapsed
        # lock) finds the child it already started instead of starting a second one.
        child_id = str(uuid.uuid5(_CHILD_IDS, f"{pointer.id}:{pointer.retry_count}"))
        try:
            host.persistence.get_workflow_instance(child_id)
        except WorkflowNotFoundError:
            host.start_instance(
                self.definition_id,
                self.version,
                self.child_data,
                parent_workflow_id=context.workflow.id,
                workflow_id=child_id,
            )
        result = ExecutionResult.wait_for_event(CHILD_COMPLETED_EVENT, child_id, pointer.create_time)
        result.persistence_data = {"child_id": child_id}
        return result


def announce_completion(host: WorkflowHost, instance: WorkflowInstance) -> None:
    """Tell the waiting parent that the child completed (its final data) or was terminated (a marker)."""
    from liteflow.core.models import WorkflowStatus

    if instance.status is WorkflowStatus.TERMINATED:
        host.publish_engine_event(CHILD_COMPLETED_EVENT, instance.id, {CHILD_TERMINATED: instance.id})
    else:
        host.publish_engine_event(CHILD_COMPLETED_EVENT, instance.id, instance.data)
