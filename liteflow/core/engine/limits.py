"""Per-workflow limits read from the ``Workflow`` class: a timeout, and a concurrency key with a maximum.

The timeout is enforced by the executor at the start of every pass (an instance past its deadline is
terminated, with ``WorkflowTerminated.reason == "timeout"``) and by capping ``next_execution`` at the
deadline, so that a sleeping or waiting instance comes due then and whichever host runs or polls it
ends it. (A SUSPENDED instance is not run: it is ended when it is resumed past its deadline.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.errors import end_pointer
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointers import open_pointers
from liteflow.core.errors import DefinitionError
from liteflow.core.lifecycle import WorkflowTerminated
from liteflow.core.models import PointerStatus, WorkflowInstance, WorkflowStatus, to_millis

TIMEOUT = "timeout"


def apply_limits(definition: WorkflowDefinition, workflow: Any) -> None:
    """Copy ``timeout``, ``concurrency_key`` and ``max_concurrency`` from a Workflow to its definition."""
    where = f"workflow {definition.id!r} version {definition.version}"
    timeout = getattr(workflow, "timeout", None)
    if timeout is not None:
        if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
            raise DefinitionError(f"{where}: timeout must be a positive timedelta, got {timeout!r}")
        definition.timeout = timeout
    key = getattr(workflow, "concurrency_key", None)
    most = getattr(workflow, "max_concurrency", None)
    if key is None and most is None:
        return
    if key is None or not callable(key):
        raise DefinitionError(f"{where}: max_concurrency needs a concurrency_key (fn(data) -> key)")
    if most is None:
        most = 1
    if not isinstance(most, int) or isinstance(most, bool) or most < 1:
        raise DefinitionError(f"{where}: max_concurrency must be a whole number of at least 1, got {most!r}")
    definition.concurrency_key = key
    definition.max_concurrency = most


def concurrency_key_of(definition: WorkflowDefinition, data: Any) -> str | None:
    """The concurrency key of an instance started with ``data`` (computed once, at the start)."""
    if definition.concurrency_key is None:
        return None
    try:
        key = definition.concurrency_key(data)
    except Exception as exc:
        raise ValueError(f"workflow {definition.id!r}: concurrency_key raised {type(exc).__name__}: {exc}") from exc
    return None if key is None else str(key)


def deadline_of(instance: WorkflowInstance, definition: WorkflowDefinition) -> datetime | None:
    return None if definition.timeout is None else instance.create_time + definition.timeout


def end_if_timed_out(
    instance: WorkflowInstance, definition: WorkflowDefinition, now: datetime, out: PassResult
) -> bool:
    """Terminate ``instance`` if it is past its deadline (every open pointer cancelled, its
    subscriptions ended); True if it was."""
    deadline = deadline_of(instance, definition)
    if deadline is None or now < deadline or instance.status is not WorkflowStatus.RUNNABLE:
        return False
    for pointer in open_pointers(instance):
        if pointer.event_name is not None and not pointer.event_published:
            out.ended_subscriptions.append(pointer.id)
        end_pointer(pointer, PointerStatus.CANCELLED, now)
    instance.status = WorkflowStatus.TERMINATED
    instance.complete_time = now
    instance.next_execution = None
    out.events.append(WorkflowTerminated.of(instance, reason=TIMEOUT))
    return True


def cap_at_deadline(instance: WorkflowInstance, definition: WorkflowDefinition) -> None:
    """Make a RUNNABLE instance due no later than its deadline (also one only waiting for an event)."""
    deadline = deadline_of(instance, definition)
    if deadline is None or instance.status is not WorkflowStatus.RUNNABLE:
        return
    at = to_millis(deadline)
    if instance.next_execution is None or instance.next_execution > at:
        instance.next_execution = at
