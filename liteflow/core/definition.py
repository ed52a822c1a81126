"""In-memory workflow definitions: what the builder produces and the executor reads.

A :class:`WorkflowDefinition` is a flat list of :class:`WorkflowStep`, each step's id being its index.
Steps are linked by :class:`Outcome` (what runs after a step) and ``children`` (the first step of each
branch of a container step such as ``for_each`` or ``if_``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext


class ErrorBehavior(str, Enum):
    """What happens when a step raises."""

    RETRY = "Retry"
    SUSPEND = "Suspend"
    TERMINATE = "Terminate"
    COMPENSATE = "Compensate"


class _Any:
    def __repr__(self) -> str:
        return "ANY"


#: The value of an outcome that follows a step whatever outcome value it produced.
ANY_OUTCOME: Any = _Any()

DataFn = Callable[[Any, StepExecutionContext], Any]


def positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` accepts (a large number for ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    count = 0
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return 99
        if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


@dataclass
class Outcome:
    """An edge: after the step, run ``next_step`` if the step's outcome value equals ``value``."""

    next_step: int
    value: Any = ANY_OUTCOME

    def matches(self, outcome_value: Any) -> bool:
        return self.value is ANY_OUTCOME or self.value == outcome_value


@dataclass
class InputMapping:
    """Before the step runs: ``body.<attr> = fn(data, context)``."""

    attr: str
    fn: DataFn

    def apply(self, body: Any, data: Any, context: StepExecutionContext) -> None:
        setattr(body, self.attr, self.fn(data, context))


@dataclass
class OutputMapping:
    """After the step runs: ``data.<attr> = fn(step)`` (or ``fn(step, data)``); with no attr, ``fn(step, data)``."""

    attr: str | None
    fn: Callable[..., Any]
    takes_data: bool = False

    def apply(self, body: Any, data: Any) -> None:
        value = self.fn(body, data) if self.takes_data else self.fn(body)
        if self.attr is not None:
            set_path(data, self.attr, value)


def set_path(target: Any, path: str, value: Any) -> None:
    """Set ``a.b.c`` on objects or dicts."""
    *parents, last = path.split(".")
    for part in parents:
        target = target[part] if isinstance(target, dict) else getattr(target, part)
    if isinstance(target, dict):
        target[last] = value
    else:
        setattr(target, last, value)


class FunctionStep(StepBody):
    """A plain function (or lambda) of ``context`` standing in for a step body."""

    def __init__(self, fn: Callable[[StepExecutionContext], Any]) -> None:
        self.fn = fn

    def run(self, context: StepExecutionContext) -> Any:
        return self.fn(context)


BodyFactory = Callable[[], StepBody]


@dataclass
class WorkflowStep:
    """One node of a definition."""

    id: int
    body_factory: BodyFactory
    body_type: type
    name: str | None = None
    inputs: list[InputMapping] = field(default_factory=list)
    outputs: list[OutputMapping] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    error_behavior: ErrorBehavior | None = None
    retry_interval: timedelta | None = None
    max_retries: int | None = None
    retry_backoff: float = 1.0
    behavior_after_retries: ErrorBehavior = ErrorBehavior.TERMINATE
    #: Exception types that skip the retries and go straight to ``behavior_after_retries``.
    non_retryable: tuple[type[BaseException], ...] = ()
    compensation_step_id: int | None = None
    #: A saga container: a failure inside compensates its completed steps.
    is_saga: bool = False
    #: Set on steps inside a saga or with a compensation: their default error behaviour is COMPENSATE.
    compensates_by_default: bool = False
    cancel_condition: DataFn | None = None
    proceed_after_cancel: bool = False
    #: On an outcome switch: the values of its ``when`` branches (the default branch runs when none match).
    branch_values: list[Any] = field(default_factory=list)
    #: Ends the workflow when reached (``end_workflow()``).
    ends_workflow: bool = False

    @property
    def display_name(self) -> str:
        return self.name or str(getattr(self.body_type, "__name__", "step"))

    def new_body(self) -> StepBody:
        return self.body_factory()


def function_body(fn: Callable[[StepExecutionContext], Any]) -> BodyFactory:
    def factory() -> StepBody:
        return FunctionStep(fn)

    return factory


@dataclass
class WorkflowDefinition:
    """A registered workflow: its id, version, steps and the type its data is rebuilt as."""

    id: str
    version: int
    steps: list[WorkflowStep]
    data_type: type | None = None
    description: str | None = None
    default_error_behavior: ErrorBehavior | None = None
    default_retry_interval: timedelta | None = None
    #: Optional per-definition hooks (set by templates): called with the host when registered.
    extra: dict[str, Any] = field(default_factory=dict)
    #: An instance unfinished this long after it started is terminated (``Workflow.timeout``).
    timeout: timedelta | None = None
    #: ``fn(data) -> key``: instances with one key run at most ``max_concurrency`` at once.
    concurrency_key: Callable[[Any], Any] | None = None
    max_concurrency: int | None = None

    def step(self, step_id: int) -> WorkflowStep:
        return self.steps[step_id]

    @property
    def has_cancel_conditions(self) -> bool:
        """Whether any step has a ``cancel_condition`` (checked on every pass, so worked out once)."""
        cached = self.extra.get("has_cancel_conditions")
        if cached is None:
            cached = self.extra["has_cancel_conditions"] = any(s.cancel_condition is not None for s in self.steps)
        return bool(cached)


__all__ = [
    "ANY_OUTCOME",
    "ErrorBehavior",
    "ExecutionResult",
    "FunctionStep",
    "InputMapping",
    "Outcome",
    "OutputMapping",
    "WorkflowDefinition",
    "WorkflowStep",
]
