"""A pass whose result cannot be stored: each step it ran fails with the SerializationError instead.

A step can leave the workflow data (or its own result: persistence data, an outcome, branch values) in a
shape no provider stores, a set or a lambda say. The store refuses the whole pass, so none of it happened:
the instance is read again as stored, and every step the pass ran fails with the error (recorded with its
traceback, logged once, and its error behaviour applied, by default a retry after the retry interval), as
if it had raised it. That is stored instead, so the host never loops on a pass it cannot store.
"""

from __future__ import annotations

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.errors import StepFailure, fail_step
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.recheck import bring_forward
from liteflow.core.engine.result_processor import determine_next_execution
from liteflow.core.errors import ConcurrencyError, SerializationError, WorkflowNotFoundError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import to_millis, utcnow
from liteflow.core.services.runtime import Runtime


def fail_unstorable(
    runtime: Runtime, workflow_id: str, definition: WorkflowDefinition, ran: list[str], exc: SerializationError
) -> None:
    """Store, instead of the pass that ran the pointers ``ran``, their failure with ``exc``."""
    persistence = runtime.persistence
    try:
        instance = persistence.get_workflow_instance(workflow_id)
    except WorkflowNotFoundError:
        return
    runtime.rebuild_data(instance, definition)
    now = utcnow()
    out = PassResult()
    for pointer_id in ran:
        pointer = instance.find_pointer(pointer_id)
        if pointer is None or pointer.end_time is not None:
            continue
        step = definition.steps[pointer.step_id]
        fail_step(StepFailure(instance, definition, pointer, step, now, runtime.executor.settings, out), exc)
    determine_next_execution(instance, now, out)
    bring_forward(instance, (), (), now, runtime.options.event_recheck_delay)  # its waits stay looked after
    try:
        persistence.persist_workflow(instance, out.subscriptions, out.ended_subscriptions)
    except ConcurrencyError:
        return  # changed meanwhile (suspended, say): whoever stored that carries on from it
    if out.errors:
        persistence.persist_errors(out.errors)
    runtime.follow_up.after_pass(instance, out, instance.status)
    if instance.next_execution is not None:  # the retry's wake-up, as after any pass
        runtime.scheduler.wake_after(
            (instance.next_execution - to_millis(utcnow())) / 1000, workflow_id, QueueType.WORKFLOW
        )
