"""Workflows as data (tukio-style templates), compiled into ordinary workflow definitions.

::

    @register("my-task1")
    async def task1(event):
        return f"got {event.data}"

    @register("my-holder", "execute")      # a task holder: created with the task's config
    class MyHolder(TaskHolder):
        async def execute(self, event):
            return self.config["value"]

    host.load(WorkflowTemplate.from_dict({"title": "wf", "tasks": [...], "graph": {...}}))
    ids = host.data_received("apple")        # also dispatched on host.broker
    host.report(ids[0])                      # its state and each task's
"""

from liteflow.core.broker import BrokerEvent, Event
from liteflow.core.templates.holders import TaskHolder
from liteflow.core.templates.policies import OverrunPolicy
from liteflow.core.templates.registry import TaskRegistry, default_registry, register
from liteflow.core.templates.tasks import TaskEvent
from liteflow.core.templates.template import TaskTemplate, WorkflowTemplate

__all__ = [
    "BrokerEvent",
    "Event",
    "OverrunPolicy",
    "TaskEvent",
    "TaskHolder",
    "TaskRegistry",
    "TaskTemplate",
    "WorkflowTemplate",
    "default_registry",
    "register",
]
