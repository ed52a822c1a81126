"""``sub_workflow(definition_id, version, data_fn)``: start a child workflow and wait for it to complete.

The child is started with ``parent_workflow_id`` set; when it completes, its host publishes the event
``liteflow.workflow-completed`` keyed by the child's id with the child's final data (written before the
child's end is stored and delivered once it is: see below), which the waiting step receives
(``step.result``, for ``.output``). When the child is terminated instead, the same event carries a
marker and the waiting step raises :class:`ChildWorkflowTerminated`: the parent step's error behaviour
applies (a retry starts a new child).
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from liteflow.core.errors import LiteFlowError, WorkflowAlreadyExistsError, WorkflowNotFoundError
from liteflow.core.interfaces import PersistenceProvider, QueueProvider, QueueType
from liteflow.core.models import Event, WorkflowStatus, utcnow
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

if TYPE_CHECKING:
    from datetime import datetime

    from liteflow.core.models import WorkflowInstance

CHILD_COMPLETED_EVENT = "liteflow.workflow-completed"
_CHILD_IDS = uuid.UUID("6f1c1e0a-3c55-4f57-9d0e-2b1a3c4d5e6f")
#: The key of the event data announcing a terminated child (the value is the child's id).
CHILD_TERMINATED = "liteflow.child-terminated"
_ENDED = (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)


class ChildStarter(Protocol):
    """What starting a child needs of ``context.host``: ``start_instance``."""

    def start_instance(
        self,
        definition_id: str,
        version: int | None,
        data: Any,
        reference: str | None = None,
        parent_workflow_id: str | None = None,
        workflow_id: str | None = None,
    ) -> str: ...


class Stores(Protocol):
    """Where a child's end is announced: written to ``persistence``, queued on ``queue`` (the engine's
    ``Runtime`` and its ``FollowUp`` have both)."""

    persistence: PersistenceProvider
    queue: QueueProvider


class ChildWorkflowTerminated(LiteFlowError):
    """The child workflow of a ``sub_workflow`` step was terminated."""


class SubWorkflow(StepBody):
    def __init__(self) -> None:
        self.definition_id: str = ""
        self.version: int | None = None
        self.child_data: Any = None
        #: The child's final data, once it has completed.
        self.result: Any = None
        self.child_id: str | None = None

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        pointer = context.execution_pointer
        if pointer.event_published:
            data = pointer.event_data
            if isinstance(data, dict) and CHILD_TERMINATED in data:
                # forget this child: a retry of the step starts a new one
                pointer.event_published = False
                pointer.event_name = pointer.event_key = pointer.event_data = None
                raise ChildWorkflowTerminated(
                    f"child workflow {data[CHILD_TERMINATED]} ({self.definition_id!r}) was terminated"
                )
            self.result = data
            self.child_id = pointer.event_key
            return ExecutionResult.next()
        host: ChildStarter = context.host
        # The same id for every run of this attempt: a run repeated after a lost pass (a crash, a lapsed
        # lock), even at the same moment as the first, finds the child it already started. No look
        # before the create: every provider refuses to create an id that exists, atomically.
        child_id = str(uuid.uuid5(_CHILD_IDS, f"{pointer.id}:{pointer.retry_count}"))
        with suppress(WorkflowAlreadyExistsError):  # started by an earlier run of this attempt
            host.start_instance(
                self.definition_id,
                self.version,
                self.child_data,
                parent_workflow_id=context.workflow.id,
                workflow_id=child_id,
            )
        result = ExecutionResult.wait_for_event(CHILD_COMPLETED_EVENT, child_id, pointer.create_time)
        result.persistence_data = {"child_id": child_id}
        return result


# -- the announcement of a child's end -------------------------------------------------------------------
# It is written before the pass that ends the child is stored, under an id derived from the child's, and
# delivered only once the child is stored as ended, with what is stored: so a host dying (or a write
# failing) between the two leaves an unprocessed event the poller hands back until the child's end is
# stored, instead of a parent waiting for an announcement nobody makes.


def completion_event_id(child_id: str) -> str:
    """The id of the event announcing the end of ``child_id`` (the same on every host, every attempt)."""
    return str(uuid.uuid5(_CHILD_IDS, f"completed:{child_id}"))


def _outcome(instance: WorkflowInstance) -> Any:
    return {CHILD_TERMINATED: instance.id} if instance.status is WorkflowStatus.TERMINATED else instance.data


def _completion_event(instance: WorkflowInstance, event_time: datetime | None = None) -> Event:
    return Event(
        id=completion_event_id(instance.id),
        event_name=CHILD_COMPLETED_EVENT,
        event_key=instance.id,
        event_data=_outcome(instance),
        event_time=event_time or utcnow(),
    )


def ends_child(instance: WorkflowInstance, before: WorkflowStatus) -> bool:
    """Whether a pass that started in ``before`` ended this instance, a child whose parent waits for it."""
    return instance.parent_workflow_id is not None and instance.status in _ENDED and before not in _ENDED


def prepare_announcement(stores: Stores, instance: WorkflowInstance) -> None:
    """Before the pass that ends a child is stored: write its announcement (not queued; see above)."""
    stores.persistence.create_event(_completion_event(instance))


def announce_completion(stores: Stores, instance: WorkflowInstance, prepared: bool = False) -> None:
    """Tell the waiting parent that the child ended: write the announcement (unless ``prepared`` before
    the child's end was stored) and queue it."""
    event_id = completion_event_id(instance.id)
    if not prepared:
        stores.persistence.create_event(_completion_event(instance))
    stores.queue.queue_work(event_id, QueueType.EVENT)


def settled_announcement(stores: Stores, event: Event) -> Event | None:
    """``event`` as it may be delivered now: unchanged unless it announces a child's end; that one only
    once the child is stored as ended (None until then), made to carry what is stored (the child's data,
    or the terminated marker) should the announcement written before say otherwise."""
    if event.event_name != CHILD_COMPLETED_EVENT:
        return event
    try:
        child = stores.persistence.get_workflow_instance(event.event_key)
    except WorkflowNotFoundError:
        return event  # purged since: delivered as announced
    if child.status not in _ENDED:
        return None
    outcome = _outcome(child)
    if event.event_data != outcome:
        event = event.model_copy(update={"event_data": outcome})
        stores.persistence.create_event(event)
    return event
