"""Persisted models <-> documents, and stored workflow data rebuilt as a class this process knows.

Persistent providers store JSON, never pickle. Going out, user values (workflow data, persistence data,
event data, context items and outcomes) go through the one codec in :mod:`liteflow.core.codec`, whose
errors name the attribute. Coming back, values stay JSON until the host rebuilds workflow data as a class
it already knows (:func:`rebuild`): the workflow's ``data_type`` or a type this process saw at
``start_workflow``. A document only ever names a type; it never makes the host import one, and its keys
never replace a method of the class. A dict given at start to a workflow with a ``data_type`` is
validated into that type (:func:`validate_into`).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError

from liteflow.core.codec import encode_data, to_jsonable
from liteflow.core.definition_checks import declared_fields, did_you_mean
from liteflow.core.errors import SerializationError
from liteflow.core.log import logger
from liteflow.core.models import Event, ExecutionPointer, WorkflowInstance

log = logger("serialization")

_POINTER_VALUES = ("persistence_data", "event_data", "context_item", "outcome")
_BUILTINS = (dict, list, str, int, float, bool, SimpleNamespace)


def type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def rebuild(value: Any, target: type | None) -> Any:
    """Rebuild JSON ``value`` as ``target`` (a known class); ``None`` or a builtin target leaves it as is."""
    if target is None or value is None or isinstance(value, target):
        return value
    if target in _BUILTINS:
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
    set_attributes(obj, value)
    return obj


def set_attributes(obj: Any, doc: Mapping[str, Any]) -> None:
    """Set the stored attributes ``doc`` on ``obj``, bar keys that would replace something of its class (a
    method, a property, a dunder name): a stored document never changes how the object behaves."""
    attrs = getattr(obj, "__dict__", None)
    skipped = []
    for key, item in doc.items():
        if not isinstance(key, str) or key.startswith("__") or _behaviour_of(type(obj), key):
            skipped.append(key)
        elif attrs is not None:
            attrs[key] = item
        else:
            try:
                setattr(obj, key, item)
            except AttributeError:
                skipped.append(key)
    if skipped:
        log.warning("data.keys_ignored", data_type=type(obj).__name__, keys=sorted(map(str, skipped)))


_MISSING = object()


def _behaviour_of(cls: type, name: str) -> bool:
    """Whether ``cls`` defines ``name`` as behaviour: a function, a method, a property or another descriptor."""
    attr = inspect.getattr_static(cls, name, _MISSING)
    return attr is not _MISSING and (callable(attr) or hasattr(attr, "__get__"))


def validate_into(value: Any, target: type | None) -> Any:
    """``value`` (a dict given at start) as ``target``, its values kept; SerializationError naming the field
    that does not fit. Any other value, or no target, is returned as it is."""
    if not isinstance(value, dict) or target is None or target in _BUILTINS or issubclass(target, dict):
        return value
    fields = declared_fields(target)
    extra_allowed = issubclass(target, BaseModel) and target.model_config.get("extra") == "allow"
    if fields is not None and not extra_allowed:
        for key in value:
            if key not in fields:
                raise SerializationError(
                    f"data.{key}: {target.__name__} has no field {key!r}" + did_you_mean(str(key), fields)
                )
    if fields is not None:
        try:
            if issubclass(target, BaseModel):
                return target.model_validate(value)
            return TypeAdapter(target).validate_python(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise SerializationError(f"data.{where}: {error['msg']} (for {target.__name__})") from None
    try:
        obj = target()
    except Exception as exc:
        raise SerializationError(f"data: {target.__name__} cannot be created without arguments: {exc}") from exc
    for key, item in value.items():
        if not isinstance(key, str) or not hasattr(obj, key) or _behaviour_of(target, key):
            known = sorted(k for k in vars(obj) if not k.startswith("_"))
            raise SerializationError(
                f"data.{key}: {target.__name__} has no attribute {key!r}" + did_you_mean(str(key), known)
            )
        setattr(obj, key, item)
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
    doc["data"] = encode_data(instance.data, "data")
    return doc


def dump_instance(instance: WorkflowInstance) -> dict[str, Any]:
    """A document for ``instance``: user values made JSON-shaped, times left as aware datetimes."""
    doc = dump_header(instance)
    doc["execution_pointers"] = [dump_pointer(p) for p in instance.execution_pointers]
    return doc


def load_instance(doc: Mapping[str, Any]) -> WorkflowInstance:
    """The instance a document describes. Workflow data stays JSON until the host rebuilds it."""
    return WorkflowInstance.model_validate(doc)


def instance_from_json(raw: str | bytes) -> WorkflowInstance:
    """The instance a JSON document describes (parsed and validated in one pass)."""
    return WorkflowInstance.model_validate_json(raw)


# -- an instance stored in parts: its own fields, and each pointer on its own --------------------------
_HEADER_EXCLUDED = {"execution_pointers", "data"}
_POINTER_EXCLUDED = set(_POINTER_VALUES)
_NULL = b"null"


def _json(value: Any) -> bytes:
    return _NULL if value is None else pydantic_core.to_json(value)


def header_json(instance: WorkflowInstance) -> bytes:
    """Compact JSON of the instance without its pointers: pydantic's encoder for the engine's fields, the
    codec for the workflow data (its errors name the attribute)."""
    data = _json(encode_data(instance.data, "data"))
    head = instance.model_dump_json(exclude=_HEADER_EXCLUDED).encode()
    return head[:-1] + b',"data":' + data + b"}"


def pointer_json(pointer: ExecutionPointer, path: str | None = None) -> bytes:
    """Compact JSON of one pointer, as :func:`header_json` writes the instance."""
    values = [getattr(pointer, name) for name in _POINTER_VALUES]
    if any(v is not None for v in values):
        if path is None:
            path = f"execution_pointers[{pointer.step_name or pointer.step_id}]"
        encoded = [_json(to_jsonable(v, f"{path}.{name}")) for name, v in zip(_POINTER_VALUES, values, strict=True)]
    else:
        encoded = [_NULL] * len(_POINTER_VALUES)
    head = pointer.model_dump_json(exclude=_POINTER_EXCLUDED).encode()
    tail = b",".join(b'"%s":%s' % (name.encode(), value) for name, value in zip(_POINTER_VALUES, encoded, strict=True))
    return head[:-1] + b"," + tail + b"}"


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
