"""Persisted state: workflow instances, execution pointers, events, subscriptions and errors.

These are the documents a persistence provider stores. They are pydantic v2 models that ignore unknown
fields (a newer node may have written more). Times are timezone-aware UTC. User values (workflow data,
persistence data, event data, context items, outcomes) are typed ``Any``: the memory provider keeps
them as objects, persistent providers store them as JSON (see :mod:`liteflow.core.serialization`).
"""

from __future__ import annotations

import itertools
import os
import random
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """A naive datetime is taken as UTC; an aware one is converted to UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


_MASK_128 = (1 << 128) - 1


class _IdSource:
    """Unique ids without a system call each: a random 128-bit base per process plus a counter.

    ``uuid.uuid4()`` reads the OS random source every call (several microseconds here); ids are made on
    the hot path, so the base is drawn once per process (and again after ``fork``).
    """

    def __init__(self) -> None:
        self.reseed()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._base = random.SystemRandom().getrandbits(128)
        self._counter = itertools.count()

    def __call__(self) -> str:
        h = f"{(self._base + next(self._counter)) & _MASK_128:032x}"  # the text of uuid.UUID(int=...)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


new_id = _IdSource()


def to_millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Epoch microseconds, exactly (a naive datetime is taken as UTC): how stores index times."""
    utc = as_utc(value)
    assert utc is not None
    return (utc - _EPOCH) // _MICROSECOND


#: A datetime that is always timezone-aware UTC (a naive one is taken as UTC).
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


class WorkflowStatus(str, Enum):
    RUNNABLE = "Runnable"
    SUSPENDED = "Suspended"
    COMPLETE = "Complete"
    TERMINATED = "Terminated"


class PointerStatus(str, Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETE = "Complete"
    SLEEPING = "Sleeping"
    WAITING_FOR_EVENT = "WaitingForEvent"
    FAILED = "Failed"
    COMPENSATED = "Compensated"
    CANCELLED = "Cancelled"


#: The stored models validate no assignment, so on its hot path the engine writes a field as
#: ``pointer.__dict__["status"] = s``: what ``pointer.status = s`` stores, without pydantic's ``__setattr__``
#: (two Python calls per field). The one thing that skips, adding the name to the model's "fields set",
#: matters only to ``exclude_unset`` dumps, which nothing here makes (and the pointers and instances the
#: engine and the memory store build count every field as set already).
class _Persisted(BaseModel):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)


class ExecutionPointer(_Persisted):
    """One execution of one step: where a workflow instance is, and what it remembers there."""

    id: str = Field(default_factory=new_id)
    step_id: int
    step_name: str | None = None
    status: PointerStatus = PointerStatus.PENDING
    active: bool = True
    create_time: UtcDatetime | None = None
    sleep_until: UtcDatetime | None = None
    persistence_data: Any = None
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None
    event_name: str | None = None
    event_key: str | None = None
    event_published: bool = False
    event_data: Any = None
    event_id: str | None = None
    context_item: Any = None
    predecessor_id: str | None = None
    outcome: Any = None
    retry_count: int = 0
    children: list[str] = Field(default_factory=list)
    scope: list[str] = Field(default_factory=list)


_set_attribute = object.__setattr__


def new_pointer(**fields: Any) -> ExecutionPointer:
    """A new pointer from the engine's own values, which are valid already: it skips validation, which
    costs more than the rest of making a pointer (the executor makes one per step)."""
    values = dict(POINTER_DEFAULTS)
    values["id"] = new_id()
    values["children"] = []
    values["scope"] = []
    values.update(fields)
    return pointer_from_values(values)


def pointer_from_values(values: dict[str, Any]) -> ExecutionPointer:
    """A pointer around ``values`` (every field, already valid), without validating them again."""
    pointer = object.__new__(ExecutionPointer)
    _set_attribute(pointer, "__dict__", values)
    _set_attribute(pointer, "__pydantic_fields_set__", POINTER_FIELDS_SET)
    _set_attribute(pointer, "__pydantic_extra__", None)
    _set_attribute(pointer, "__pydantic_private__", None)
    return pointer


#: The "fields set" of every pointer the engine makes: all of them. One shared set, since a set per pointer
#: would be the largest part of a pointer's memory; pydantic only adds names to it (already all there).
POINTER_FIELDS_SET: set[str] = set(ExecutionPointer.model_fields)

#: Every field in declaration order (so a new pointer's values serialise in the same order as a validated
#: one's), with its default; those made by a factory (id, children, scope) are filled in by new_pointer.
POINTER_DEFAULTS: dict[str, Any] = {
    name: None if field.default_factory is not None else field.default
    for name, field in ExecutionPointer.model_fields.items()
}


class WorkflowInstance(_Persisted):
    """A running (or finished) workflow: its definition, data, status and execution pointers."""

    id: str = Field(default_factory=new_id)
    workflow_definition_id: str
    version: int
    description: str | None = None
    reference: str | None = None
    #: The instance that started this one with a ``sub_workflow`` step, if any.
    parent_workflow_id: str | None = None
    status: WorkflowStatus = WorkflowStatus.RUNNABLE
    data: Any = None
    #: The name of the class the data was started with (``module.QualName``); only ever looked up among
    #: classes this process already knows, never imported.
    data_type_name: str | None = None
    create_time: UtcDatetime = Field(default_factory=utcnow)
    complete_time: UtcDatetime | None = None
    #: When the instance next has work to do, in epoch milliseconds; ``None`` when it only waits for events
    #: (except, for ``event_recheck_delay`` after a wait subscribed, its recheck: see ``engine.recheck``).
    next_execution: int | None = 0
    #: Compare-and-set counter: every successful persist increments it.
    revision: int = 0
    #: The trace the instance was started in (W3C trace-context headers), when tracing is on.
    trace_context: dict[str, str] | None = None
    #: The workflow's concurrency key for this instance's data (``Workflow.concurrency_key``), if any.
    concurrency_key: str | None = None
    execution_pointers: list[ExecutionPointer] = Field(default_factory=list)
    #: The engine's index of unfinished pointers (see ``engine.pointers.open_pointers``); never stored.
    _open_index: Any = PrivateAttr(default=None)

    def find_pointer(self, pointer_id: str) -> ExecutionPointer | None:
        for pointer in self.execution_pointers:
            if pointer.id == pointer_id:
                return pointer
        return None


def instance_from_values(values: dict[str, Any], private: dict[str, Any] | None = None) -> WorkflowInstance:
    """An instance around ``values`` (every field, already valid), without validating them again (as
    :func:`pointer_from_values` makes pointers); ``private``: its private state (see :func:`engine_state`)."""
    instance = object.__new__(WorkflowInstance)
    _set_attribute(instance, "__dict__", values)
    _set_attribute(instance, "__pydantic_fields_set__", INSTANCE_FIELDS_SET)
    _set_attribute(instance, "__pydantic_extra__", None)
    _set_attribute(instance, "__pydantic_private__", private)
    return instance


INSTANCE_FIELDS_SET: set[str] = set(WorkflowInstance.model_fields)


def engine_state(instance: WorkflowInstance) -> dict[str, Any]:
    """The instance's private attributes, where the engine and providers keep bookkeeping that is never
    stored (read directly: pydantic's own getattr for private attributes is slow)."""
    private = instance.__pydantic_private__
    if private is None:
        instance._open_index = None  # makes pydantic create the private dict
        private = instance.__pydantic_private__
        assert private is not None
    return private


class Event(_Persisted):
    """A published event: matched to subscriptions by name, key and time."""

    id: str = Field(default_factory=new_id)
    event_name: str
    event_key: str
    event_data: Any = None
    event_time: UtcDatetime = Field(default_factory=utcnow)
    is_processed: bool = False


class EventSubscription(_Persisted):
    """A waiting execution pointer's interest in events of one name and key, as of a time."""

    id: str = Field(default_factory=new_id)
    workflow_id: str
    step_id: int
    execution_pointer_id: str
    event_name: str
    event_key: str
    subscribe_as_of: UtcDatetime


class ExecutionError(_Persisted):
    """A step failure, recorded for the operator."""

    id: str = Field(default_factory=new_id)
    workflow_id: str
    execution_pointer_id: str
    error_time: UtcDatetime = Field(default_factory=utcnow)
    message: str
    #: The formatted traceback ("" in records written before it was kept).
    details: str = ""
