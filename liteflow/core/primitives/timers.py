"""Time-driven steps: ``delay``, ``schedule`` and ``recur``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from liteflow.core.primitives.containers import ContainerStepBody
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext


def _as_timedelta(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    raise TypeError(f"expected a timedelta (or seconds), got {type(value).__name__}")


class Delay(StepBody):
    """Sleeps for ``period`` (a timedelta, or seconds), then carries on."""

    def __init__(self) -> None:
        self.period: Any = timedelta(0)

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if context.persistence_data is None:
            period = _as_timedelta(self.period)
            if period > timedelta(0):
                return ExecutionResult.sleep(period, {"slept": True})
        return ExecutionResult.next()


class Schedule(ContainerStepBody):
    """Runs its branch once after ``interval``; the steps after it do not wait for it."""

    def __init__(self) -> None:
        self.interval: Any = timedelta(0)

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        data = context.persistence_data
        if data is None:
            return ExecutionResult.sleep(_as_timedelta(self.interval), {"elapsed": False})
        if not data.get("elapsed"):
            return self.start_branches(context, elapsed=True)
        return self.once_done(context, ExecutionResult.next)


class Recur(ContainerStepBody):
    """Runs its branch every ``interval`` until ``stop_condition`` holds; the steps after it do not wait."""

    def __init__(self) -> None:
        self.interval: Any = timedelta(0)
        self.stop_condition: Any = False

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if self.stop_condition:
            return ExecutionResult.next()
        rounds = int((context.persistence_data or {}).get("rounds", 0)) + 1
        result = self.start_branches(context, rounds=rounds)
        result.sleep_for = _as_timedelta(self.interval)
        return result
