"""What the memory provider keeps of an instance: a copy made through the JSON codec, never the caller's object.

Workflow data and every pointer's values (persistence data, event data, context item, outcome) go through
:mod:`liteflow.core.codec`, as on Redis and MongoDB, so what cannot be stored raises SerializationError
naming the attribute and what is read back is what the other providers give.

A store costs what changed, not the instance's history:

* a pointer that has ended is kept itself, its values made JSON-shaped in place (as a reload from any
  store would give them): the engine never changes it again, bar a compensated step's status, which it
  sets on that same object;
* a pointer still open is copied (its lock holder goes on changing it);
* an instance read or stored here remembers the stored copy it matches (``_BASE`` in its private state),
  and each stored copy the positions of its open pointers (``_OPEN``): persisting it again looks at those
  positions and at the pointers appended since, and shares the rest with the previous stored copy.
  Anything else (an instance from elsewhere, or one behind another writer) is stored whole.

A stored copy is never changed once stored (bar those compensated statuses); readers copy it.
"""

from __future__ import annotations

from typing import Any

from liteflow.core.codec import copy_json, encode_data, to_jsonable
from liteflow.core.models import ExecutionPointer, WorkflowInstance, instance_from_values, pointer_from_values

_PLAIN = frozenset({str, int, bool, type(None)})
_VALUES = ("persistence_data", "event_data", "context_item", "outcome")
#: In an instance's private state: the stored copy it was read as, or stored as.
_BASE = "_memory_base"
#: In a stored copy's private state: the positions of its pointers that had not ended.
_OPEN = "_memory_open"


def _encode_values(fields: dict[str, Any], pointer: ExecutionPointer) -> None:
    for name in _VALUES:
        value = fields[name]
        if type(value) not in _PLAIN:
            path = f"execution_pointers[{pointer.step_name or pointer.step_id}].{name}"
            fields[name] = to_jsonable(value, path)


def store_pointer(pointer: ExecutionPointer) -> ExecutionPointer:
    """What the store keeps of ``pointer`` (SerializationError naming the attribute)."""
    fields = pointer.__dict__
    plain = (
        type(fields["persistence_data"]) in _PLAIN
        and type(fields["outcome"]) in _PLAIN
        and type(fields["context_item"]) in _PLAIN
        and type(fields["event_data"]) in _PLAIN
    )
    if fields["end_time"] is not None:
        if not plain:
            _encode_values(fields, pointer)
        return pointer
    fields = fields.copy()
    # tuples: the store's own copy is never handed out (readers copy it, lists again), and an empty tuple
    # is no new object for the garbage collector to track
    fields["children"] = tuple(fields["children"])
    fields["scope"] = tuple(fields["scope"])
    if not plain:
        _encode_values(fields, pointer)
    return pointer_from_values(fields)


def _copy_pointer(pointer: ExecutionPointer) -> ExecutionPointer:
    """A copy with its own lists and values (pydantic's model_copy costs twice as much)."""
    fields = pointer.__dict__.copy()
    fields["children"] = list(fields["children"])
    fields["scope"] = list(fields["scope"])
    for name in _VALUES:
        value = fields[name]
        if value is not None:
            fields[name] = copy_json(value)
    return pointer_from_values(fields)


def encode_instance(instance: WorkflowInstance, current: Any, revision: int) -> WorkflowInstance:
    """The copy of ``instance`` the store keeps at ``revision``, given what it holds now (``current``).
    Raises SerializationError (naming the attribute) before anything is stored."""
    source = instance.execution_pointers
    private = instance.__pydantic_private__
    base = None if private is None else private.get(_BASE)
    if base is not None and base is current and len(source) >= len(current.execution_pointers):
        pointers = current.execution_pointers.copy()
        opened = []
        for i in current.__pydantic_private__[_OPEN]:
            pointer = pointers[i] = store_pointer(source[i])
            if pointer.end_time is None:
                opened.append(i)
        for i in range(len(pointers), len(source)):
            pointer = store_pointer(source[i])
            pointers.append(pointer)
            if pointer.end_time is None:
                opened.append(i)
    else:
        pointers = [store_pointer(p) for p in source]
        opened = [i for i, p in enumerate(pointers) if p.end_time is None]
    values = instance.__dict__.copy()
    data = values["data"]
    if type(data) not in _PLAIN:
        values["data"] = encode_data(data, "data")
    values["execution_pointers"] = pointers
    values["revision"] = revision
    return instance_from_values(values, {"_open_index": None, _OPEN: opened})


def stored_as(instance: WorkflowInstance, stored: WorkflowInstance) -> None:
    """After a successful store: ``instance`` now matches ``stored``."""
    private = instance.__pydantic_private__
    if private is not None:
        private[_BASE] = stored
        return
    if private is None:
        instance._open_index = None  # makes pydantic create the private dict
        private = instance.__pydantic_private__
        assert private is not None
    private[_BASE] = stored


def copy_instance(stored: WorkflowInstance, share_ended: bool = False) -> WorkflowInstance:
    """A copy of a stored instance that shares nothing mutable with it; with ``share_ended`` (for the lock
    holder), the pointers that have ended are shared rather than copied."""
    values = stored.__dict__.copy()
    values["data"] = copy_json(values["data"])
    values["execution_pointers"] = [
        p if share_ended and p.end_time is not None else _copy_pointer(p) for p in stored.execution_pointers
    ]
    return instance_from_values(values, {"_open_index": None, _BASE: stored})
