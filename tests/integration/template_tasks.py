"""The template and tasks both processes of the template process test load (the same names everywhere)."""

from __future__ import annotations

import os
from typing import Any

from liteflow.core import TaskHolder
from liteflow.core.templates import TaskEvent, TaskRegistry, default_registry

LISTENER = {
    "title": "listener",
    "topics": [],
    "tasks": [{"id": "listen", "name": "listen", "topics": ["feed", "more"]}, {"id": "after", "name": "after"}],
    "graph": {"listen": ["after"]},
}


def registry() -> TaskRegistry:
    tasks = TaskRegistry(parent=default_registry)

    @tasks.register("listen", "execute")
    class Listen(TaskHolder):
        async def execute(self, event: TaskEvent) -> Any:
            assert event.queue is not None
            got = []
            for _ in range(3):
                item = await event.queue.get()
                got.append({"data": item.data, "topic": item.topic, "from": item.source.get("host_id")})
            return {"pid": os.getpid(), "got": got}

    @tasks.register("after")
    def after(event: TaskEvent) -> Any:
        return len(event.data["got"])

    return tasks
