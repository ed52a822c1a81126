"""User values -> JSON-shaped values: the one codec every provider stores workflow data, event data,
persistence data, context items and outcomes through, so each gives the same answer.

What is stored comes back equal, or is refused with :class:`SerializationError` naming the attribute;
nothing is changed silently. Anywhere:

* JSON values pass as they are (``str``, ``int``, ``bool``, ``None``, finite floats, lists, dicts with
  string keys); tuples become lists;
* datetimes, dates, times, timedeltas and UUIDs become the text pydantic writes for them, enums their
  value, and objects (plain, dataclass, pydantic) a dict of their fields;
* everything else is refused: NaN and infinities, sets, Decimals, dicts with other keys, functions,
  objects without fields (``object()``, sockets, locks), and attributes set on a dataclass that are not
  among its fields (they would be dropped).

Workflow data that is a dataclass or a pydantic model is rebuilt as its own class (see
``serialization.rebuild``), so :func:`encode_data` stores its fields as their declared types allow (a
``Decimal`` or ``set[str]`` field is fine) and refuses what would not come back equal.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter

from liteflow.core.errors import SerializationError

_SCALARS = frozenset({str, int, bool, type(None)})
_TIMES = (datetime, date, time, timedelta, uuid.UUID)


class _Refused(Exception):
    """Raised inside the encoder; the attribute path is collected on the way out (only on failure)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.parts: list[str] = []


def to_jsonable(value: Any, path: str = "data") -> Any:
    """A JSON-shaped copy of ``value``; SerializationError naming ``path`` (and below) if it cannot be stored."""
    if type(value) in _SCALARS:
        return value
    try:
        return _encode(value)
    except _Refused as exc:
        raise SerializationError(f"{path}{''.join(reversed(exc.parts))}: {exc.reason}") from None


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return _mapping(value)
    if kind is list or kind is tuple:
        return _sequence(value)
    if kind is float:
        return _float(value)
    return _other(value)


def _float(value: float) -> float:
    if math.isfinite(value):
        return float(value)
    raise _Refused(f"{value!r} cannot be stored as JSON (NaN and infinities are not JSON numbers)")


def _mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if type(key) is not str:
            if not isinstance(key, str):
                raise _Refused(f"dict key {key!r} is not a string (JSON object keys are)")
            key = key.value if isinstance(key, enum.Enum) else str(key)
        try:
            out[key] = item if type(item) in _SCALARS else _encode(item)
        except _Refused as exc:
            exc.parts.append(f".{key}")
            raise
    return out


def _sequence(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    out = []
    for i, item in enumerate(value):
        try:
            out.append(item if type(item) in _SCALARS else _encode(item))
        except _Refused as exc:
            exc.parts.append(f"[{i}]")
            raise
    return out


def _other(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _encode(value.value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (str, int)):
        return str(value) if isinstance(value, str) else int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, (list, tuple)):
        return _sequence(value)
    if isinstance(value, (set, frozenset)):
        raise _Refused(f"a {type(value).__name__} cannot be stored as JSON (it would come back a list): use a list")
    if isinstance(value, _TIMES):
        return pydantic_core.to_jsonable_python(value)  # the same text pydantic's encoder writes
    if isinstance(value, Decimal):
        raise _Refused("a Decimal cannot be stored as JSON (it would come back a string): use a str or a float")
    return _object(value)


def _object(value: Any) -> dict[str, Any]:
    """Pydantic models, dataclasses and plain objects, by their fields."""
    if isinstance(value, BaseModel):
        try:
            dumped = value.model_dump(mode="json")
        except Exception as exc:
            raise _Refused(f"{type(value).__name__} cannot be stored as JSON: {exc}") from exc
        return _mapping(dumped)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _no_extra_attributes(value)
        return _fields(value, (f.name for f in dataclasses.fields(value)))
    if callable(value):
        raise _Refused(f"a {type(value).__name__} (a function) cannot be stored as JSON")
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        return _mapping(attrs)
    raise _Refused(f"a {type(value).__name__} cannot be stored as JSON")


def _fields(value: Any, names: typing.Iterable[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        item = getattr(value, name)
        try:
            out[name] = item if type(item) in _SCALARS else _encode(item)
        except _Refused as exc:
            exc.parts.append(f".{name}")
            raise
    return out


def _no_extra_attributes(value: Any) -> None:
    attrs = getattr(value, "__dict__", None)
    if attrs is None:
        return
    fields = _field_names(type(value))
    if len(attrs) > len(fields) or any(name not in fields for name in attrs):
        extra = sorted(name for name in attrs if name not in fields)
        if extra:
            exc = _Refused(f"not a field of the dataclass {type(value).__name__}, so it would not be stored")
            exc.parts.append(f".{extra[0]}")
            raise exc


#: Per dataclass: its field names, and each field with an adapter for its declared type (few classes)
_FIELD_NAMES: dict[type, frozenset[str]] = {}
_ADAPTERS: dict[type, tuple[tuple[str, TypeAdapter[Any] | None], ...]] = {}


def _field_names(cls: type) -> frozenset[str]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return names


# -- workflow data, rebuilt as its own class --------------------------------------------------------------
def encode_data(value: Any, path: str = "data") -> Any:
    """Workflow data, JSON-shaped. A dataclass or pydantic model is stored by its declared field types
    (it is rebuilt as its class), and refused where it would not come back equal."""
    if type(value) in _SCALARS or type(value) is dict:
        return to_jsonable(value, path)
    if isinstance(value, BaseModel):
        return _typed_model(value, path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _typed_dataclass(value, path)
    return to_jsonable(value, path)


def _typed_dataclass(value: Any, path: str) -> dict[str, Any]:
    try:
        _no_extra_attributes(value)
    except _Refused as exc:
        raise SerializationError(f"{path}{''.join(exc.parts)}: {exc.reason}") from None
    out = {}
    for name, adapter in _field_adapters(type(value)):
        item = getattr(value, name)
        where = f"{path}.{name}"
        if adapter is None or type(item) in _SCALARS:
            out[name] = to_jsonable(item, where)
        else:
            out[name] = _typed(adapter, item, where)
    return out


def _typed(adapter: TypeAdapter[Any], item: Any, where: str) -> Any:
    try:
        dumped = to_jsonable(adapter.dump_python(item, mode="json", warnings=False), where)
        back = adapter.validate_python(dumped)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"{where}: cannot be stored as JSON: {exc}") from exc
    if back != item:
        raise SerializationError(f"{where}: {item!r} would come back as {back!r}, so it cannot be stored")
    return dumped


def _field_adapters(cls: type) -> tuple[tuple[str, TypeAdapter[Any] | None], ...]:
    """Each field with an adapter for its declared type (None where it is untyped: stored as any value)."""
    adapters = _ADAPTERS.get(cls)
    if adapters is None:
        adapters = _ADAPTERS[cls] = _make_adapters(cls)
    return adapters


def _make_adapters(cls: type) -> tuple[tuple[str, TypeAdapter[Any] | None], ...]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        hints = {}
    out = []
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name, Any)
        adapter: TypeAdapter[Any] | None = None
        if hint not in (Any, object):
            try:
                adapter = TypeAdapter(hint)
            except Exception:
                adapter = None
        out.append((f.name, adapter))
    return tuple(out)


def _typed_model(value: BaseModel, path: str) -> dict[str, Any]:
    try:
        dumped = to_jsonable(value.model_dump(mode="json", warnings=False), path)
        back = type(value).model_validate(dumped)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"{path}: {type(value).__name__} cannot be stored as JSON: {exc}") from exc
    if back != value:
        for name in type(value).model_fields:
            if getattr(back, name) != getattr(value, name):
                raise SerializationError(
                    f"{path}.{name}: {getattr(value, name)!r} would come back as {getattr(back, name)!r}"
                )
        raise SerializationError(f"{path}: {type(value).__name__} would not come back equal")
    return dumped


# -- copies of stored values -----------------------------------------------------------------------------
def copy_json(value: Any) -> Any:
    """A copy of a JSON-shaped value (dicts and lists copied, the rest immutable)."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else copy_json(v) for v in value]
    return value
