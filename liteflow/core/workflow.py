"""The :class:`Workflow` base class users subclass to define a workflow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from liteflow.core.builder import WorkflowBuilder


class Workflow:
    """Subclass and implement :meth:`build`; override :meth:`id` and :meth:`version` as needed.

    ``data_type`` (optional) is the class the workflow's data is built as when started with ``None`` and
    rebuilt as when read back from a persistent provider.

    ``timeout`` (optional): an instance still unfinished that long after it started is terminated
    (``WorkflowTerminated.reason == "timeout"``), also while it sleeps or waits for an event.

    ``concurrency_key`` and ``max_concurrency`` (optional, together): at most ``max_concurrency``
    instances whose data gives the same key run their steps at once, across all hosts; the others wait.
    """

    data_type: ClassVar[type[Any] | None] = None
    timeout: ClassVar[timedelta | None] = None
    concurrency_key: ClassVar[Callable[[Any], Any] | None] = None
    max_concurrency: ClassVar[int | None] = None

    def id(self) -> str:
        return type(self).__name__

    def version(self) -> int:
        return 1

    def build(self, builder: WorkflowBuilder) -> None:
        raise NotImplementedError(f"{type(self).__name__}.build is not implemented")
