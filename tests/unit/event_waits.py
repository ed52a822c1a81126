"""What the event tests share: a workflow that waits for one event, and whether an instance waits for one."""

from __future__ import annotations

from typing import Any

from liteflow.core import Workflow, WorkflowBuilder
from liteflow.core.models import PointerStatus


def waits_for_event(host: Any, workflow_id: str) -> bool:
    """Whether a pointer of the instance waits for an event."""
    pointers = host.get_workflow_instance(workflow_id).execution_pointers
    return any(p.status is PointerStatus.WAITING_FOR_EVENT for p in pointers)


class WaitsForGo(Workflow):
    """Waits for the event ``go`` with key ``k`` (any published since the instance was made) and keeps its
    data as ``received``."""

    def id(self) -> str:
        return "WaitsForGo"

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("go", lambda data, context: "k", lambda data, context: context.workflow.create_time)
            .output("received", lambda step: step.event_data)
        )
