"""Tasks by name: ``@register("my-task")`` on a function (sync or ``async def``) or a StepBody subclass,
``@register("my-task", "method")`` on a task holder class (:mod:`liteflow.core.templates.holders`).

Templates name their tasks; a name is looked up when the template is compiled (at ``register_workflow`` /
``host.load``). :data:`default_registry` is what the module-level :func:`register` decorator fills (tukio's
API is a module-level decorator); a template may be given a registry of its own. Every registry falls back
to the built-in tasks (``wait_for``, ``delay``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from liteflow.core.step import StepBody
from liteflow.core.templates.holders import HolderTask

#: A registered task: a function of the task's ``event`` (sync or async), a StepBody subclass, or a
#: :class:`HolderTask` (a holder class and its method).
TaskImpl = Any
T = TypeVar("T")


class TaskRegistry:
    """Task implementations by name; names not found here are looked up in ``parent``."""

    def __init__(self, parent: TaskRegistry | None = None) -> None:
        self.parent = parent
        self._tasks: dict[str, TaskImpl] = {}
        self._mutex = threading.Lock()

    def add(self, name: str, task: TaskImpl, method: str | None = None) -> None:
        """Register ``task`` under ``name`` (registering a name again replaces it); a holder class
        with the ``method`` that runs it."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a task name must be a non-empty string, got {name!r}")
        if method is not None or (inspect.isclass(task) and not issubclass(task, StepBody)):
            if not inspect.isclass(task):
                raise TypeError(f"task {name!r}: a method name goes with a class, got {task!r}")
            if method is None:
                raise TypeError(
                    f"task {name!r}: {task.__name__} is not a StepBody subclass; "
                    "register a holder class with its method: @register(name, 'method')"
                )
            task = HolderTask(task, method)
        elif inspect.isclass(task):
            pass
        elif isinstance(task, StepBody) or not callable(task):
            raise TypeError(f"task {name!r}: register a function or a StepBody subclass, got {task!r}")
        with self._mutex:
            self._tasks[name] = task

    def register(self, name: str, method: str | None = None) -> Callable[[T], T]:
        """A decorator registering what it decorates under ``name`` (a holder class with its ``method``);
        returns it unchanged."""

        def decorator(task: T) -> T:
            self.add(name, task, method if inspect.isclass(task) else None)
            return task

        return decorator

    def get(self, name: str) -> TaskImpl | None:
        with self._mutex:
            task = self._tasks.get(name)
        if task is None and self.parent is not None:
            return self.parent.get(name)
        return task

    def names(self) -> list[str]:
        with self._mutex:
            own = set(self._tasks)
        inherited = set(self.parent.names()) if self.parent is not None else set()
        return sorted(own | inherited)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


def _builtin_registry() -> TaskRegistry:
    from liteflow.core.templates.builtins import DelayTask, WaitForTask

    builtins = TaskRegistry()
    builtins.add("wait_for", WaitForTask)
    builtins.add("delay", DelayTask)
    return builtins


#: The built-in tasks every registry falls back to.
builtin_registry = _builtin_registry()
#: The registry ``@register`` fills and templates use unless given another one.
default_registry = TaskRegistry(parent=builtin_registry)


def register(name: Any, method: str | None = None, registry: TaskRegistry | None = None) -> Any:
    """``@register("my-task1")``: register a task by name (in ``registry``, default :data:`default_registry`);
    ``@register("my-task1", "execute")`` on a class registers a task holder run by its ``execute`` method.

    Bare ``@register`` registers a function under its ``__name__``.
    """
    target = registry if registry is not None else default_registry
    if callable(name) and not isinstance(name, str):
        task = name
        target.add(getattr(task, "__name__", ""), task)
        return task
    return target.register(name, method)


__all__ = ["TaskImpl", "TaskRegistry", "builtin_registry", "default_registry", "register"]
