"""Queries over an instance's execution pointers, shared by the executor and the container steps."""

from __future__ import annotations

from datetime import datetime

from liteflow.core.models import ExecutionPointer, WorkflowInstance


def runnable_pointers(instance: WorkflowInstance, now: datetime) -> list[ExecutionPointer]:
    """Active pointers that are not asleep."""
    return [p for p in instance.execution_pointers if p.active and (p.sleep_until is None or p.sleep_until <= now)]


def scoped_pointers(instance: WorkflowInstance, parent_id: str) -> list[ExecutionPointer]:
    """Every pointer inside the branches of ``parent_id`` (at any depth)."""
    return [p for p in instance.execution_pointers if parent_id in p.scope]


def branch_complete(instance: WorkflowInstance, parent_id: str) -> bool:
    """True when every pointer inside the branches of ``parent_id`` has ended."""
    return all(p.end_time is not None for p in instance.execution_pointers if parent_id in p.scope)


def consumed_event_ids(instance: WorkflowInstance, before: datetime | None = None) -> set[str]:
    """Ids of the events the instance's pointers received; with ``before``, only those of pointers that had
    ended by then. A pointer created later (a loop waiting again) must not receive them a second time, while
    pointers waiting side by side (parallel branches) each receive the same event."""
    return {
        p.event_id
        for p in instance.execution_pointers
        if p.event_id is not None and (before is None or (p.end_time is not None and p.end_time <= before))
    }
