"""``wait_for``: park the workflow until a matching event is published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liteflow.core.models import as_utc
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext


class WaitFor(StepBody):
    """Waits for an event ``event_name``/``event_key`` effective at or after ``effective_date``
    (default: when this step's execution pointer was created). ``event_data`` holds the event's data."""

    def __init__(self) -> None:
        self.event_name: str = ""
        self.event_key: Any = None
        self.effective_date: datetime | None = None
        self.event_data: Any = None

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        pointer = context.execution_pointer
        if not pointer.event_published:
            as_of = as_utc(self.effective_date) if self.effective_date is not None else pointer.create_time
            return ExecutionResult.wait_for_event(self.event_name, self.event_key, as_of)
        self.event_data = pointer.event_data
        return ExecutionResult.next()
