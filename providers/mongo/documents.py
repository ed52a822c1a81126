"""Persisted models <-> MongoDB documents.

Documents come from :mod:`liteflow.core.serialization` (user values already JSON-shaped, times left as
aware datetimes that BSON stores as dates with millisecond precision). Each document's ``_id`` is the
model's id; enum members are stored by value. Nothing is ever pickled, and loading only ever builds the
LiteFlow models themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

from liteflow.core.changes import mark_loaded
from liteflow.core.control_state import mark_control
from liteflow.core.models import Event, ExecutionPointer, WorkflowInstance
from liteflow.core.serialization import dump_event, dump_header, dump_instance, dump_pointer, load_instance

#: The range of a BSON int64: larger Python ints cannot be stored.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

M = TypeVar("M", bound=BaseModel)


def _enums_to_values(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace enum members among ``doc``'s own fields by their values (BSON has no enum type)."""
    for name, value in doc.items():
        if isinstance(value, Enum):
            doc[name] = value.value
    return doc


def instance_document(instance: WorkflowInstance, revision: int) -> dict[str, Any]:
    """The document storing ``instance`` at ``revision``. Raises SerializationError (naming the path)."""
    doc = _enums_to_values(dump_instance(instance))
    doc["execution_pointers"] = [_enums_to_values(p) for p in doc["execution_pointers"]]
    doc["revision"] = revision
    doc["_id"] = instance.id
    return doc


def instance_changes(
    instance: WorkflowInstance, revision: int, pointers: list[tuple[int, ExecutionPointer]]
) -> dict[str, Any]:
    """``$set`` fields storing ``instance`` at ``revision`` over its stored document, given the pointers
    that changed (by position; a position at the end of the stored array appends)."""
    fields = _enums_to_values(dump_header(instance))
    fields.pop("id", None)
    fields["revision"] = revision
    for position, pointer in pointers:
        fields[f"execution_pointers.{position}"] = _enums_to_values(dump_pointer(pointer))
    return fields


def event_document(event: Event) -> dict[str, Any]:
    doc = _enums_to_values(dump_event(event))
    doc["_id"] = event.id
    return doc


def model_document(model: BaseModel) -> dict[str, Any]:
    """The document of a model holding no user values (subscriptions, errors)."""
    doc = _enums_to_values(model.model_dump())
    doc["_id"] = doc["id"]
    return doc


def load_workflow(doc: Mapping[str, Any]) -> WorkflowInstance:
    """The instance a document stores; all of it counts as stored (see ``liteflow.core.changes``)."""
    instance = load_instance(_without_id(doc))
    mark_loaded(instance)
    mark_control(instance, doc.get("control"))
    return instance


def load_model(cls: type[M], doc: Mapping[str, Any]) -> M:
    return cls.model_validate(_without_id(doc))


def _without_id(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def unstorable_path(value: Any, path: str = "") -> str | None:
    """The path of the first value in ``value`` that BSON cannot store (an int beyond 64 bits), if any.

    Only called after the driver refused a document, to name the offending attribute in the error.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return path if not _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, Mapping):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for child_path, child in items:
        found = unstorable_path(child, child_path)
        if found is not None:
            return found
    return None
