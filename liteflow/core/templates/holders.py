"""Task holders: tukio's class-based tasks, registered with ``@register("name", "method")``.

::

    @register("fetch", "execute")
    class Fetch(TaskHolder):
        async def execute(self, event):
            return await get(self.config["url"])

        def report(self):              # kept in the workflow's report
            return {"url": self.config["url"]}

        def teardown(self):            # the task was cancelled (a timeout, abort-running, host.cancel)
            ...

The class is created with the task's ``config`` for each run of the task (``Holder(config)``), then
``holder.method(event)`` runs it (awaited when it is a coroutine function). Inheriting from
:class:`TaskHolder` is optional: any class whose ``__init__`` takes the config will do.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from liteflow.core.models import new_id


class TaskHolder:
    """An optional base for task holders: ``config``, a ``uid``, ``report()`` and ``teardown()``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = config if config is not None else {}
        self.uid = new_id()
        #: While the task runs, the data dispatched to the task's topics (``event.queue`` too).
        self.queue: Any = None

    def report(self) -> Any:
        """What the workflow's report shows for this run of the task (JSON-shaped); None: nothing."""
        return None

    def teardown(self) -> Any:
        """Called when the task is cancelled (its timeout, the template's, ``abort-running``, ``cancel``)."""
        return None


@dataclass(frozen=True)
class HolderTask:
    """A registered holder class and the name of the method that runs the task."""

    cls: type
    method: str

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method:
            raise TypeError(f"register a class with the name of its task method, got {self.method!r}")
        if not callable(getattr(self.cls, self.method, None)):
            raise AttributeError(f"{self.cls.__name__} has no method {self.method!r}")

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(getattr(self.cls, self.method))

    def create(self, config: dict[str, Any]) -> Any:
        return self.cls(config)


__all__ = ["HolderTask", "TaskHolder"]
