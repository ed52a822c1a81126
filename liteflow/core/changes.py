"""Which execution pointers a provider must write: those that changed since the instance was last stored.

A provider that stores pointers one by one (Redis keeps each in a field of the instance's hash) writes,
per persist, the instance's own fields and only these pointers, so the cost of a step does not grow
with the instance's history.

What may have changed since the last successful store:

* every pointer that had not ended then (it may have run, ended, been woken or cancelled since);
* every pointer appended since (pointers are only ever appended, never removed or reordered);
* an ended pointer the engine changed again, which it reports with :func:`touch` (compensation marks
  a completed step COMPENSATED; nothing else changes a pointer once it has ended).

The record lives in the instance's private attributes, never stored. An instance without one (new, or
made by a provider that does not keep it) has all of its pointers written.
"""

from __future__ import annotations

from liteflow.core.models import ExecutionPointer, WorkflowInstance, engine_state

_KEY = "_stored_pointers"


def changed_pointers(instance: WorkflowInstance) -> list[tuple[int, ExecutionPointer]]:
    """(position, pointer) for every pointer to write, in position order."""
    pointers = instance.execution_pointers
    record = engine_state(instance).get(_KEY)
    if record is None or record[0] is not pointers:
        return list(enumerate(pointers))
    _, count, still_open, touched = record
    if not touched:  # the usual case: those open then (in order, all before ``count``), then the new ones
        return [*still_open, *((i, pointers[i]) for i in range(count, len(pointers)))]
    positions = {i for i, _ in still_open}
    positions.update(range(count, len(pointers)))
    positions.update(touched)
    return [(i, pointers[i]) for i in sorted(positions)]


def mark_stored(instance: WorkflowInstance, written: list[tuple[int, ExecutionPointer]]) -> None:
    """After a successful store of ``written`` (what :func:`changed_pointers` gave, or every pointer)."""
    pointers = instance.execution_pointers
    still_open = [(i, p) for i, p in written if p.end_time is None]
    engine_state(instance)[_KEY] = (pointers, len(pointers), still_open, set())


def mark_loaded(instance: WorkflowInstance) -> None:
    """After reading the instance from the store: every pointer counts as stored."""
    mark_stored(instance, list(enumerate(instance.execution_pointers)))


def forget(instance: WorkflowInstance) -> None:
    """Write every pointer with the next store (it replaces a state this record knows nothing about)."""
    engine_state(instance).pop(_KEY, None)


def touch(instance: WorkflowInstance, pointer: ExecutionPointer) -> None:
    """The engine changed ``pointer`` after it had ended: write it with the next store."""
    record = engine_state(instance).get(_KEY)
    if record is None:
        return  # everything is written anyway
    for i, candidate in enumerate(instance.execution_pointers):
        if candidate is pointer:
            record[3].add(i)
            return
