"""Ended instances kept compactly: plain tuples of their values, which the garbage collector stops tracking.

An instance that has completed or been terminated never runs again, yet a long-lived in-memory host keeps
thousands of them. As models, each is a few dozen objects the collector walks on every full collection
(at 10,000 finished instances a full collection took a fifth of the run). As tuples holding only strings,
numbers, datetimes and None, they are untracked after their first collection and cost less memory.
Stored user values (JSON-shaped: workflow data, step outcomes) are kept as they are; :func:`thaw` copies them.
"""

from __future__ import annotations

from typing import Any

from liteflow.core.codec import copy_json
from liteflow.core.models import (
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    pointer_from_values,
)

#: What an ended instance is stored as: its field values in ``WorkflowInstance.model_fields`` order.
FrozenInstance = tuple[Any, ...]


_INSTANCE_FIELDS = tuple(WorkflowInstance.model_fields)
_POINTER_FIELDS = tuple(ExecutionPointer.model_fields)
_INDEX = {name: i for i, name in enumerate(_INSTANCE_FIELDS)}
_STATUS, _POINTERS = _INDEX["status"], _INDEX["execution_pointers"]
#: Where a frozen instance holds its revision.
REVISION = _INDEX["revision"]
_POINTER_STATUS = _POINTER_FIELDS.index("status")
_POINTER_VALUES = ("persistence_data", "event_data", "context_item", "outcome")
_POINTER_LISTS = tuple(_POINTER_FIELDS.index(name) for name in ("children", "scope"))


_INSTANCE_FIELD_LIST = list(_INSTANCE_FIELDS)
_POINTER_FIELD_LIST = list(_POINTER_FIELDS)


def freeze(instance: WorkflowInstance) -> FrozenInstance:
    """The instance's values as tuples (enums as their values, pointer lists as tuples)."""
    values = instance.__dict__
    frozen = _in_order(values, _INSTANCE_FIELD_LIST)
    frozen[_STATUS] = instance.status.value
    frozen[_POINTERS] = tuple(_freeze_pointer(p) for p in instance.execution_pointers)
    return tuple(frozen)


def _in_order(values: dict[str, Any], fields: list[str]) -> list[Any]:
    """``values`` in the order of ``fields`` (their own order, as models keep it, is checked in one go)."""
    if list(values) == fields:
        return list(values.values())
    return [values[name] for name in fields]


def _freeze_pointer(pointer: ExecutionPointer) -> tuple[Any, ...]:
    values = pointer.__dict__
    frozen = _in_order(values, _POINTER_FIELD_LIST)
    frozen[_POINTER_STATUS] = pointer.status.value
    for i in _POINTER_LISTS:
        frozen[i] = tuple(frozen[i])
    return tuple(frozen)


def thaw(frozen: FrozenInstance) -> WorkflowInstance:
    """A new instance from frozen values, sharing nothing mutable with them."""
    values = dict(zip(_INSTANCE_FIELDS, frozen, strict=True))
    values["status"] = WorkflowStatus(values["status"])
    values["data"] = copy_json(values["data"])
    values["execution_pointers"] = [_thaw_pointer(p) for p in frozen[_POINTERS]]
    return WorkflowInstance.model_construct(**values)


def _thaw_pointer(frozen: tuple[Any, ...]) -> ExecutionPointer:
    values = dict(zip(_POINTER_FIELDS, frozen, strict=True))
    values["status"] = PointerStatus(values["status"])
    values["children"] = list(values["children"])
    values["scope"] = list(values["scope"])
    for name in _POINTER_VALUES:
        if values[name] is not None:
            values[name] = copy_json(values[name])
    return pointer_from_values(values)


def value_of(stored: WorkflowInstance | FrozenInstance, name: str) -> Any:
    """One field of a stored instance, frozen or not (``status`` as the enum)."""
    if isinstance(stored, tuple):
        value = stored[_INDEX[name]]
        return WorkflowStatus(value) if name == "status" else value
    return getattr(stored, name)
