"""Instances, pointers and errors as the JSON documents the dashboard's API serves.

The same shapes as ``liteflow list --json`` / ``liteflow show --json`` (SPEC): statuses by name, times
in ISO 8601 (or null), workflow data as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liteflow.core.models import WorkflowInstance
from liteflow.core.serialization import to_jsonable


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def jsonable(value: Any) -> Any:
    """A JSON-shaped copy of user data; what cannot be shown as JSON is shown as its repr."""
    try:
        return to_jsonable(value)
    except Exception:
        return repr(value)


def summary(instance: WorkflowInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "definition_id": instance.workflow_definition_id,
        "version": instance.version,
        "status": instance.status.name,
        "reference": instance.reference,
        "create_time": iso(instance.create_time),
        "complete_time": iso(instance.complete_time),
    }


def detail(instance: WorkflowInstance, errors: list[Any], step_names: dict[int, str]) -> dict[str, Any]:
    doc = summary(instance)
    doc["data"] = jsonable(instance.data)
    doc["pointers"] = [
        {
            "id": p.id,
            "step_id": p.step_id,
            "step_name": step_names.get(p.step_id) or p.step_name or f"step {p.step_id}",
            "status": p.status.name,
            "start_time": iso(p.start_time),
            "end_time": iso(p.end_time),
            "sleep_until": iso(p.sleep_until),
            "event_name": p.event_name,
            "event_key": p.event_key,
            "retry_count": p.retry_count,
        }
        for p in instance.execution_pointers
    ]
    doc["errors"] = [
        {
            "message": e.message,
            "details": getattr(e, "details", None),
            "error_time": iso(e.error_time),
            "execution_pointer_id": e.execution_pointer_id,
        }
        for e in errors
    ]
    return doc
