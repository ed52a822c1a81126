"""The :class:`Workflow` base class users subclass to define a workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from liteflow.core.builder import WorkflowBuilder


class Workflow:
    """Subclass and implement :meth:`build`; override :meth:`id` and :meth:`version` as needed.

    ``data_type`` (optional) is the class the workflow's data is built as when started with ``None`` and
    rebuilt as when read back from a persistent provider.
    """

    data_type: ClassVar[type[Any] | None] = None

    def id(self) -> str:
        return type(self).__name__

    def version(self) -> int:
        return 1

    def build(self, builder: WorkflowBuilder) -> None:
        raise NotImplementedError(f"{type(self).__name__}.build is not implemented")
