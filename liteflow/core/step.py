"""What a step is: :class:`StepBody`, the context it runs in, and the :class:`ExecutionResult` it returns."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liteflow.core.definition import WorkflowStep
    from liteflow.core.models import ExecutionPointer, WorkflowInstance


@dataclass
class ExecutionResult:
    """What a step asks the host to do next. Build one with the class-method factories."""

    proceed: bool = False
    outcome_value: Any = None
    persistence_data: Any = None
    sleep_for: timedelta | None = None
    branch_values: list[Any] = field(default_factory=list)
    event_name: str | None = None
    event_key: str | None = None
    event_as_of: datetime | None = None

    @classmethod
    def next(cls) -> ExecutionResult:
        """Move on to the next step."""
        return cls(proceed=True)

    @classmethod
    def outcome(cls, value: Any) -> ExecutionResult:
        """Move on, choosing the branches whose ``when(value)`` matches."""
        return cls(proceed=True, outcome_value=value)

    @classmethod
    def persist(cls, data: Any) -> ExecutionResult:
        """Stay on this step; it runs again with ``context.persistence_data == data``."""
        return cls(proceed=False, persistence_data=data)

    @classmethod
    def sleep(cls, duration: timedelta, data: Any = None) -> ExecutionResult:
        """Stay on this step and run it again after ``duration`` with ``persistence_data == data``."""
        return cls(proceed=False, persistence_data=data, sleep_for=duration)

    @classmethod
    def branch(cls, values: list[Any], data: Any = None) -> ExecutionResult:
        """Start the step's child branches once per value (the value becomes ``context.item``)."""
        return cls(proceed=False, persistence_data=data, branch_values=list(values))

    @classmethod
    def wait_for_event(cls, event_name: str, event_key: Any, effective_date: datetime | None = None) -> ExecutionResult:
        """Wait for an event of this name and key published at or after ``effective_date``."""
        return cls(proceed=False, event_name=event_name, event_key=str(event_key), event_as_of=effective_date)


@dataclass
class StepExecutionContext:
    """Everything a running step can see."""

    workflow: WorkflowInstance
    step: WorkflowStep
    execution_pointer: ExecutionPointer
    persistence_data: Any = None
    #: The host running the step (steps such as ``sub_workflow`` use it to start workflows).
    host: Any = None

    @property
    def item(self) -> Any:
        """The item of the ``for_each`` (or branch) this step runs for; ``None`` outside one."""
        return self.execution_pointer.context_item

    @property
    def context_item(self) -> Any:
        return self.execution_pointer.context_item


class StepBody:
    """Base class of a step. Subclass it and implement :meth:`run` (plain or ``async def``).

    A body is created fresh for every execution, so ``__init__`` takes no arguments and sets the
    step's input and output attributes. Returning ``None`` from ``run`` means ``ExecutionResult.next()``.
    """

    def run(self, context: StepExecutionContext) -> ExecutionResult | Awaitable[ExecutionResult | None] | None:
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")
