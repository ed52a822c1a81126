"""Queries over an instance's execution pointers, shared by the executor and the container steps."""

from __future__ import annotations

from datetime import datetime

from liteflow.core.models import ExecutionPointer, WorkflowInstance, engine_state


def open_pointers(instance: WorkflowInstance) -> list[ExecutionPointer]:
    """The pointers that have not ended, in order, without scanning the instance's whole history.

    A pointer never reopens once it has ended (``end_time`` is never cleared) and pointers are only ever
    appended, so the index kept on the instance is brought up to date by dropping what ended and adding
    what was appended since: the cost of a pass does not grow with the number of finished pointers.
    """
    pointers = instance.execution_pointers
    private = instance.__pydantic_private__
    if private is None:
        private = engine_state(instance)
    index = private.get("_open_index")
    if index is not None and index[0] is pointers:
        _, seen, previous = index
        current = [p for p in previous if p.end_time is None]
        current.extend(p for p in pointers[seen:] if p.end_time is None)
    else:
        current = [p for p in pointers if p.end_time is None]
    private["_open_index"] = (pointers, len(pointers), current)
    return current


def scoped_pointers(instance: WorkflowInstance, parent_id: str) -> list[ExecutionPointer]:
    """Every pointer inside the branches of ``parent_id`` (at any depth)."""
    return [p for p in instance.execution_pointers if parent_id in p.scope]


def branch_complete(instance: WorkflowInstance, parent_id: str) -> bool:
    """True when every pointer inside the branches of ``parent_id`` has ended."""
    return not any(parent_id in p.scope for p in open_pointers(instance))


def consumed_event_ids(instance: WorkflowInstance, before: datetime | None = None) -> set[str]:
    """Ids of the events the instance's pointers received; with ``before``, only those of pointers that had
    ended by then. A pointer created later (a loop waiting again) must not receive them a second time, while
    pointers waiting side by side (parallel branches) each receive the same event."""
    return {
        p.event_id
        for p in instance.execution_pointers
        if p.event_id is not None and (before is None or (p.end_time is not None and p.end_time <= before))
    }
