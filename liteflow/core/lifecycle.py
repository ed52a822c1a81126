"""Lifecycle events: what a host reports about workflows and steps to ``host.on_lifecycle_event`` callbacks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from liteflow.core.models import WorkflowInstance, utcnow


@dataclass
class LifecycleEvent:
    workflow_instance_id: str
    workflow_definition_id: str
    version: int
    reference: str | None
    event_time: datetime = field(default_factory=utcnow)

    @classmethod
    def of(cls, instance: WorkflowInstance, **extra: Any) -> LifecycleEvent:
        return cls(
            workflow_instance_id=instance.id,
            workflow_definition_id=instance.workflow_definition_id,
            version=instance.version,
            reference=instance.reference,
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["type"] = type(self).__name__
        doc["event_time"] = self.event_time.isoformat()
        return doc


@dataclass
class WorkflowStarted(LifecycleEvent):
    pass


@dataclass
class WorkflowCompleted(LifecycleEvent):
    pass


@dataclass
class WorkflowTerminated(LifecycleEvent):
    #: Why, when the host ended it on its own: ``"timeout"`` (the workflow's or the template's timeout);
    #: None when it was asked to or a step failed.
    reason: str | None = None


@dataclass
class WorkflowSuspended(LifecycleEvent):
    pass


@dataclass
class WorkflowResumed(LifecycleEvent):
    pass


@dataclass
class WorkflowError(LifecycleEvent):
    message: str = ""
    execution_pointer_id: str | None = None
    step_id: int | None = None


@dataclass
class StepStarted(LifecycleEvent):
    execution_pointer_id: str = ""
    step_id: int = 0


@dataclass
class StepCompleted(LifecycleEvent):
    execution_pointer_id: str = ""
    step_id: int = 0


LIFECYCLE_EVENT_TYPES: dict[str, type[LifecycleEvent]] = {
    cls.__name__: cls
    for cls in (
        WorkflowStarted,
        WorkflowCompleted,
        WorkflowTerminated,
        WorkflowSuspended,
        WorkflowResumed,
        WorkflowError,
        StepStarted,
        StepCompleted,
    )
}


def lifecycle_event_from_dict(doc: dict[str, Any]) -> LifecycleEvent | None:
    """Rebuild an event received from another host; an unknown type gives None (never an arbitrary class)."""
    cls = LIFECYCLE_EVENT_TYPES.get(str(doc.get("type")))
    if cls is None:
        return None
    fields = {k: v for k, v in doc.items() if k != "type"}
    fields["event_time"] = datetime.fromisoformat(fields["event_time"])
    return cls(**fields)
