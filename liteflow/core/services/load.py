"""Loading an instance to run it: the one place both the workflow consumer and control load through."""

from __future__ import annotations

from liteflow.core.interfaces import PersistenceProvider
from liteflow.core.models import WorkflowInstance


def load_to_run(persistence: PersistenceProvider, workflow_id: str) -> WorkflowInstance:
    """The instance, for a caller holding its lock. A provider may offer ``get_workflow_instance_to_run``,
    a cheaper load for that case (the memory provider shares finished pointers); else the ordinary get."""
    load = getattr(persistence, "get_workflow_instance_to_run", None) or persistence.get_workflow_instance
    instance: WorkflowInstance = load(workflow_id)
    return instance
