"""Built-in template tasks: ``wait_for`` and ``delay``.

``wait_for`` config: ``event_name`` (required), and ``event_key`` (a value, default ``""``) or
``event_key_from`` (a dotted path into the instance's data, e.g. ``"trigger.order_id"`` or
``"outputs.f1.id"``). It takes events published since the instance started, and outputs the event's data.

``delay`` config: ``seconds`` (>= 0). Its output is its input: it passes its parent's output on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from liteflow.core.primitives.timers import Delay
from liteflow.core.primitives.wait_for import WaitFor
from liteflow.core.step import ExecutionResult, StepExecutionContext
from liteflow.core.templates.tasks import TaskEvent, template_data


def lookup(data: Any, path: str) -> Any:
    """``a.b.0.c`` in nested dicts and lists; KeyError naming the path when a part is missing."""
    value = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(f"no {part!r} at {path!r} in the workflow data")
    return value


class WaitForTask(WaitFor):
    """Waits for an event (``event_name``/``event_key``) published since the instance started."""

    config_fields: ClassVar[tuple[str, ...]] = ("event_name", "event_key", "event_key_from")

    def __init__(self) -> None:
        super().__init__()
        self.event_key = ""
        self.event_key_from: str | None = None
        self.event: TaskEvent | None = None

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        name = config.get("event_name")
        if not isinstance(name, str) or not name:
            raise ValueError("config needs an event_name (a non-empty string)")
        key_from = config.get("event_key_from")
        if key_from is not None and (not isinstance(key_from, str) or not key_from):
            raise ValueError("event_key_from must be a dotted path such as 'trigger.order_id'")
        if key_from is not None and "event_key" in config:
            raise ValueError("give event_key or event_key_from, not both")

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        if self.event_key_from:
            self.event_key = lookup(template_data(context), self.event_key_from)
        if self.effective_date is None:
            self.effective_date = context.workflow.create_time
        return super().run(context)

    @property
    def output(self) -> Any:
        return self.event_data


class DelayTask(Delay):
    """Sleeps ``seconds``, then passes its input on."""

    config_fields: ClassVar[tuple[str, ...]] = ("seconds",)

    def __init__(self) -> None:
        super().__init__()
        self.seconds: float = 0
        self.event: TaskEvent | None = None

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        seconds = config.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"config needs seconds (a number >= 0), got {seconds!r}")

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        self.period = timedelta(seconds=self.seconds)
        return super().run(context)

    @property
    def output(self) -> Any:
        return self.event.data if self.event is not None else None
