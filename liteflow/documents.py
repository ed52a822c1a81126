"""The JSON documents ``liteflow ... --json`` prints and the dashboard's API serves (one shape for both).

``summary``: ``id``, ``definition_id``, ``version``, ``status`` (the name, ``"COMPLETE"``), ``reference``,
``create_time``, ``complete_time`` (ISO 8601 or null), ``description``. ``detail`` adds ``data``,
``pointers`` (``id``, ``step_id``, ``step_name``, ``status``, ``start_time``, ``end_time``,
``retry_count``, ...) and ``errors`` (``message``, ``details``, ``error_time``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.errors import SerializationError
from liteflow.core.models import ExecutionPointer, WorkflowInstance
from liteflow.core.serialization import to_jsonable


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def summary(instance: WorkflowInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "definition_id": instance.workflow_definition_id,
        "version": instance.version,
        "status": instance.status.name,
        "reference": instance.reference,
        "description": instance.description,
        "create_time": iso(instance.create_time),
        "complete_time": iso(instance.complete_time),
    }


def step_name(pointer: ExecutionPointer, definition: WorkflowDefinition | None) -> str:
    """The step's name: as the definition names it (``.name()`` or the body's class), else as stored."""
    if definition is not None and 0 <= pointer.step_id < len(definition.steps):
        return definition.steps[pointer.step_id].display_name
    return pointer.step_name or f"step {pointer.step_id}"


def _jsonable(value: Any) -> Any:
    try:
        return to_jsonable(value)
    except SerializationError:
        return repr(value)


def pointer_document(pointer: ExecutionPointer, definition: WorkflowDefinition | None) -> dict[str, Any]:
    duration = None
    if pointer.start_time is not None and pointer.end_time is not None:
        duration = (pointer.end_time - pointer.start_time).total_seconds()
    return {
        "id": pointer.id,
        "step_id": pointer.step_id,
        "step_name": step_name(pointer, definition),
        "status": pointer.status.name,
        "active": pointer.active,
        "start_time": iso(pointer.start_time),
        "end_time": iso(pointer.end_time),
        "duration": duration,
        "retry_count": pointer.retry_count,
        "sleep_until": iso(pointer.sleep_until),
        "event_name": pointer.event_name,
        "event_key": pointer.event_key,
        "predecessor_id": pointer.predecessor_id,
        "outcome": _jsonable(pointer.outcome),
    }


def error_document(error: Any) -> dict[str, Any]:
    return {
        "message": error.message,
        "details": getattr(error, "details", None),
        "error_time": iso(error.error_time),
        "execution_pointer_id": error.execution_pointer_id,
    }


def detail(instance: WorkflowInstance, definition: WorkflowDefinition | None, errors: Sequence[Any]) -> dict[str, Any]:
    document = summary(instance)
    document["data"] = _jsonable(instance.data)
    document["pointers"] = [pointer_document(p, definition) for p in ordered_pointers(instance)]
    document["errors"] = [error_document(e) for e in errors]
    return document


def ordered_pointers(instance: WorkflowInstance) -> list[ExecutionPointer]:
    """The pointers in the order they ran: by start (or creation) time, not-yet-started ones last."""

    def key(item: tuple[int, ExecutionPointer]) -> tuple[int, datetime, int]:
        position, pointer = item
        when = pointer.start_time or pointer.create_time
        return (0, when, position) if when is not None else (1, instance.create_time, position)

    return [pointer for _, pointer in sorted(enumerate(instance.execution_pointers), key=key)]
