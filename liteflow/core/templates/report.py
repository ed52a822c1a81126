"""Following template instances up: ``host.report(workflow_id)`` and the ``"liteflow.exec"`` topic.

``report`` reads the stored instance: the workflow's ``state`` is ``"running"`` (RUNNABLE or SUSPENDED),
``"done"`` (COMPLETE: a failed task ends only its branch), ``"timeout"`` (its template's timeout ended it),
``"failed"`` (TERMINATED after a step error the engine recorded) or ``"cancelled"`` (terminated otherwise:
``host.cancel``, ``terminate_workflow``, ``abort-running``). Each task's state is ``"pending"`` (not
reached), ``"running"`` (reached: started or about to start; a running task's progress is stored when it
ends), ``"done"``, ``"failed"``, ``"timeout"`` or ``"cancelled"``.

On the exec topic a host dispatches ``{"event": "workflow-begin" | "workflow-end" | "task-begin" |
"task-end", "workflow_id", "template_id", ...}`` (``task_id`` and ``name`` for tasks, ``state`` at the
end), from the host that started the instance or ran the task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liteflow.core.errors import WorkflowNotRegisteredError
from liteflow.core.log import logger
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus
from liteflow.core.templates.deadline import ENDED_BY_TIMEOUT
from liteflow.core.templates.hooks import CANCEL_TOPIC, follow, terminate_and_cancel
from liteflow.core.templates.running import CANCELLED
from liteflow.core.templates.tasks import JOIN_PENDING
from liteflow.core.templates.template import WorkflowTemplate

log = logger("templates")


def report(host: Any, workflow_id: str) -> dict[str, Any]:
    """The execution report of a template instance (WorkflowNotFoundError for an unknown id)."""
    instance = host.get_workflow_instance(workflow_id)
    definition = host.registry.find(instance.workflow_definition_id, instance.version)
    template = definition.extra.get("template") if definition is not None else None
    if not isinstance(template, WorkflowTemplate):
        raise WorkflowNotRegisteredError(instance.workflow_definition_id, instance.version)
    data = instance.data if isinstance(instance.data, dict) else {}
    found = data.get("outputs")
    outputs: dict[str, Any] = found if isinstance(found, dict) else {}
    step_of = {step.name: step.id for step in definition.steps}
    tasks = []
    for task in template.tasks:
        pointers = [
            p for p in instance.execution_pointers if p.step_id == step_of[task.id] and p.outcome != JOIN_PENDING
        ]
        tasks.append(task_report(task.id, task.name, pointers[-1] if pointers else None, outputs))
    end = _iso(instance.complete_time)
    if end is not None:  # the instance's end is the start of its last pass: not before its tasks' ends
        end = max([end, *(t["end"] for t in tasks if t["end"] is not None)])
    return {
        "id": instance.id,
        "template_id": template.id,
        "title": template.title,
        "state": workflow_state(host, instance, data),
        "start": _iso(instance.create_time),
        "end": end,
        "tasks": tasks,
    }


def task_report(task_id: str, name: str, pointer: ExecutionPointer | None, outputs: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": task_id, "name": name, "state": "pending", "start": None, "end": None}
    record = pointer.persistence_data if pointer is not None and isinstance(pointer.persistence_data, dict) else {}
    if pointer is not None:
        entry["start"] = record.get("start") or _iso(pointer.start_time)
        entry["end"] = record.get("end") or _iso(pointer.end_time)
        if pointer.status is PointerStatus.CANCELLED:
            entry["state"] = CANCELLED
        elif pointer.end_time is not None and "state" in record:
            entry["state"] = record["state"]
        else:
            entry["state"] = "running"
    entry["output"] = outputs.get(task_id)
    for key in ("attempts", "error", "details", "report"):
        if key in record:
            entry[key] = record[key]
    return entry


def workflow_state(host: Any, instance: WorkflowInstance, data: dict[str, Any]) -> str:
    if instance.status in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
        return "running"
    if instance.status is WorkflowStatus.COMPLETE:
        return "done"
    if data.get("ended") == ENDED_BY_TIMEOUT:
        return "timeout"
    return "failed" if host.get_errors(instance.id) else "cancelled"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


__all__ = ["CANCEL_TOPIC", "follow", "report", "terminate_and_cancel"]
