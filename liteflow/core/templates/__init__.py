"""Workflows as data (tukio-style templates), compiled into ordinary workflow definitions.

::

    @register("my-task1")
    async def task1(event):
        return f"got {event.data}"

    host.load(WorkflowTemplate.from_dict({"title": "wf", "tasks": [...], "graph": {...}}))
    ids = host.data_received("apple")
"""

from liteflow.core.templates.policies import OverrunPolicy
from liteflow.core.templates.registry import TaskRegistry, default_registry, register
from liteflow.core.templates.tasks import TaskEvent
from liteflow.core.templates.template import TaskTemplate, WorkflowTemplate

__all__ = [
    "OverrunPolicy",
    "TaskEvent",
    "TaskRegistry",
    "TaskTemplate",
    "WorkflowTemplate",
    "default_registry",
    "register",
]
