"""User values <-> JSON-shaped values, and persisted models <-> documents.

Persistent providers store JSON, never pickle. Going out, :func:`to_jsonable` turns workflow data,
persistence data, event data, context items and outcomes into dicts, lists and scalars (plain objects by
their ``__dict__``, dataclasses by their fields, pydantic models by ``model_dump``); anything else raises
:class:`SerializationError` naming the attribute. Coming back, values stay JSON until the host rebuilds
workflow data as a class it already knows (:func:`rebuild`): the workflow's ``data_type`` or a type this
process saw at ``start_workflow``. A document only ever names a type; it never makes the host import one.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter

from liteflow.core.errors import SerializationError
from liteflow.core.models import Event, ExecutionPointer, WorkflowInstance

_SCALARS = (str, int, float, bool)
_POINTER_VALUES = ("persistence_data", "event_data", "context_item", "outcome")


def type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def to_jsonable(value: Any, path: str = "data") -> Any:
    """A JSON-shaped copy of ``value``; raises SerializationError naming ``path`` for what cannot be stored."""
    if value is None or isinstance(value, _SCALARS):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, Mapping):
        return _mapping(value, path)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (datetime, date, time, timedelta, Decimal, uuid.UUID)):
        return pydantic_core.to_jsonable_python(value)  # the same text pydantic's encoder writes
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, path)
    return _object(value, path)


def _mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise SerializationError(f"{path}: dict key {key!r} is not a string")
        out[key] = to_jsonable(item, f"{path}.{key}")
    return out


def _object(value: Any, path: str) -> dict[str, Any]:
    """Pydantic models, dataclasses and plain objects, by their fields."""
    if isinstance(value, BaseModel):
        try:
            return value.model_dump(mode="json")
        except Exception as exc:
            raise SerializationError(f"{path}: {type(value).__name__} cannot be stored as JSON: {exc}") from exc
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)}
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict) and not callable(value):
        return {k: to_jsonable(v, f"{path}.{k}") for k, v in attrs.items()}
    raise SerializationError(f"{path}: a {type(value).__name__} cannot be stored as JSON")


def rebuild(value: Any, target: type | None) -> Any:
    """Rebuild JSON ``value`` as ``target`` (a known class); ``None`` or a builtin target leaves it as is."""
    if target is None or value is None or isinstance(value, target):
        return value
    if target in (dict, list, str, int, float, bool, SimpleNamespace):
        return SimpleNamespace(**value) if target is SimpleNamespace and isinstance(value, dict) else value
    if not isinstance(value, dict):
        return value
    if issubclass(target, BaseModel):
        return target.model_validate(value)
    if dataclasses.is_dataclass(target):
        try:
            return TypeAdapter(target).validate_python(value)
        except Exception:
            pass
    try:
        obj = target()
    except TypeError:
        obj = target.__new__(target)
    obj.__dict__.update(value)
    return obj


def dump_pointer(pointer: ExecutionPointer, path: str | None = None) -> dict[str, Any]:
    """A document for one pointer (``path`` names it in errors; by default its place in an instance)."""
    if path is None:
        path = f"execution_pointers[{pointer.step_name or pointer.step_id}]"
    doc = pointer.model_dump(exclude=set(_POINTER_VALUES))
    for name in _POINTER_VALUES:
        doc[name] = to_jsonable(getattr(pointer, name), f"{path}.{name}")
    return doc


def dump_header(instance: WorkflowInstance) -> dict[str, Any]:
    """A document for ``instance`` without its pointers."""
    doc = instance.model_dump(exclude={"data", "execution_pointers"})
    doc["data"] = to_jsonable(instance.data, "data")
    return doc


def dump_instance(instance: WorkflowInstance) -> dict[str, Any]:
    """A document for ``instance``: user values made JSON-shaped, times left as aware datetimes."""
    doc = dump_header(instance)
    doc["execution_pointers"] = [dump_pointer(p) for p in instance.execution_pointers]
    return doc


def load_instance(doc: Mapping[str, Any]) -> WorkflowInstance:
    """The instance a document describes. Workflow data stays JSON until the host rebuilds it."""
    return WorkflowInstance.model_validate(doc)


def _fallback(value: Any) -> Any:
    return to_jsonable(value, type(value).__name__)


def instance_from_json(raw: str | bytes) -> WorkflowInstance:
    """The instance a JSON document describes (parsed and validated in one pass)."""
    return WorkflowInstance.model_validate_json(raw)


# -- an instance stored in parts: its own fields, and each pointer on its own --------------------------
_WITHOUT_POINTERS = {"execution_pointers"}


def header_json(instance: WorkflowInstance, strict: bool = False) -> bytes:
    """Compact JSON of the instance without its pointers. By default pydantic's own encoder, handing it
    :func:`to_jsonable` for values it does not know (plain objects), and :func:`dump_header` for what it
    refuses; with ``strict``, :func:`dump_header` only, whose errors name the attribute."""
    if not strict:
        try:
            return instance.model_dump_json(exclude=_WITHOUT_POINTERS, fallback=_fallback).encode()
        except Exception:
            pass
    return pydantic_core.to_json(dump_header(instance))


def pointer_json(pointer: ExecutionPointer, strict: bool = False) -> bytes:
    """Compact JSON of one pointer, as :func:`header_json` writes the instance (``strict`` as there)."""
    if not strict:
        try:
            return pointer.model_dump_json(fallback=_fallback).encode()
        except Exception:
            pass
    return pydantic_core.to_json(dump_pointer(pointer))


def instance_from_parts(header: bytes, pointers: list[bytes]) -> WorkflowInstance:
    """The instance from :func:`header_json` and its pointers' :func:`pointer_json`, in order."""
    if not header.endswith(b"}"):
        raise ValueError("not a JSON object")
    return instance_from_json(header[:-1] + b',"execution_pointers":[' + b",".join(pointers) + b"]}")


def dump_event(event: Event) -> dict[str, Any]:
    doc = event.model_dump(exclude={"event_data"})
    doc["event_data"] = to_jsonable(event.event_data, "event_data")
    return doc


class TypeResolver:
    """Maps type names written in documents to classes this process already knows; never imports."""

    def __init__(self) -> None:
        self._types: dict[str, type] = {}

    def remember(self, cls: type | None) -> None:
        if cls is not None and cls.__module__ != "builtins":
            self._types[type_name(cls)] = cls

    def resolve(self, name: str | None) -> type | None:
        return None if name is None else self._types.get(name)
