"""Making execution pointers: the first one, the next one, branch children and compensations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.models import (
    POINTER_DEFAULTS,
    ExecutionPointer,
    PointerStatus,
    new_id,
    new_pointer,
    pointer_from_values,
)


def _pointer(definition: WorkflowDefinition, step_id: int, now: datetime, **fields: Any) -> ExecutionPointer:
    return new_pointer(
        step_id=step_id,
        step_name=definition.steps[step_id].name,
        status=PointerStatus.PENDING,
        active=True,
        create_time=now,
        **fields,
    )


def genesis_pointer(definition: WorkflowDefinition, now: datetime) -> ExecutionPointer:
    return _pointer(definition, 0, now)


def next_pointer(
    definition: WorkflowDefinition, previous: ExecutionPointer, step_id: int, now: datetime
) -> ExecutionPointer:
    """The pointer of the step that follows ``previous`` (one per step run: built in one go, as ``_pointer``
    would build it)."""
    values = dict(POINTER_DEFAULTS)
    values["id"] = new_id()
    values["step_id"] = step_id
    values["step_name"] = definition.steps[step_id].name
    values["status"] = PointerStatus.PENDING
    values["active"] = True
    values["create_time"] = now
    values["predecessor_id"] = previous.id
    values["context_item"] = previous.context_item
    values["children"] = []
    values["scope"] = list(previous.scope)
    return pointer_from_values(values)


def child_pointer(
    definition: WorkflowDefinition, parent: ExecutionPointer, step_id: int, item: Any, now: datetime
) -> ExecutionPointer:
    return _pointer(
        definition,
        step_id,
        now,
        predecessor_id=parent.id,
        context_item=item,
        scope=[parent.id, *parent.scope],
    )


def compensation_pointer(
    definition: WorkflowDefinition,
    compensated: ExecutionPointer,
    step_id: int,
    scope: list[str],
    now: datetime,
) -> ExecutionPointer:
    return _pointer(
        definition,
        step_id,
        now,
        predecessor_id=compensated.id,
        context_item=compensated.context_item,
        scope=list(scope),
    )
