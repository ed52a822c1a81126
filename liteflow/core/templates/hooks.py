"""The hooks a host gets when a template is first loaded into it: the exec topic's workflow begin/end,
the records of ended instances dropped, and the cancelling of running tasks of a terminated instance."""

from __future__ import annotations

from typing import Any

from liteflow.core.broker import EXEC_TOPIC
from liteflow.core.lifecycle import LifecycleEvent, WorkflowCompleted, WorkflowStarted, WorkflowTerminated
from liteflow.core.templates.policies import RunningInstances
from liteflow.core.templates.running import running_of


def follow(host: Any) -> None:
    """Dispatch workflow begin/end on the exec topic, drop the records of ended instances, and cancel
    the tasks this host runs for an instance terminated here or elsewhere."""

    def local(event: LifecycleEvent) -> None:
        if not isinstance(event, (WorkflowStarted, WorkflowCompleted, WorkflowTerminated)):
            return
        definition = host.registry.find(event.workflow_definition_id, event.version)
        if definition is None or "template" not in definition.extra:
            return
        doc: dict[str, Any] = {
            "workflow_id": event.workflow_instance_id,
            "template_id": event.workflow_definition_id,
        }
        if isinstance(event, WorkflowStarted):
            doc["event"] = "workflow-begin"
        else:
            RunningInstances(host.persistence).finished(event.workflow_instance_id)
            doc["event"] = "workflow-end"
            doc["state"] = end_state(event)
        host.broker.dispatch(doc, EXEC_TOPIC, {"workflow_id": event.workflow_instance_id})

    def terminated(event: LifecycleEvent) -> None:
        running_of(host).cancel(event.workflow_instance_id)

    def cancel_requested(event: Any) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        if isinstance(data.get("workflow_id"), str):
            running_of(host).cancel(data["workflow_id"])

    # ahead of every other callback: a user's callback for the end of an instance sees it no longer running
    host.lifecycle.add(local, (WorkflowStarted, WorkflowCompleted, WorkflowTerminated), local_only=True, ahead=True)
    host.on_lifecycle_event(terminated, WorkflowTerminated)
    host.broker.register(cancel_requested, CANCEL_TOPIC)


#: The broker topic on which a host that terminates a template instance asks every host to cancel the
#: tasks it runs for it (the termination itself is applied when the running task returns).
CANCEL_TOPIC = "liteflow.cancel"


def terminate_and_cancel(host: Any, workflow_id: str) -> bool:
    """Terminate a template instance and cancel its running tasks, here and (through the lifecycle hub)
    on other hosts: a terminate during a task is applied when the task returns, so the task is told to
    stop. False if the instance had finished."""
    if not host.terminate_workflow(workflow_id):
        return False
    running_of(host).cancel(workflow_id)
    host.broker.dispatch({"workflow_id": workflow_id}, CANCEL_TOPIC)
    return True


def end_state(event: LifecycleEvent) -> str:
    if isinstance(event, WorkflowCompleted):
        return "done"
    return "timeout" if getattr(event, "reason", None) == "timeout" else "cancelled"


__all__ = ["CANCEL_TOPIC", "end_state", "follow", "terminate_and_cancel"]
