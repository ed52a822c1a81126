"""The step body every template task compiles to, and the ``event`` a task receives.

A template instance's workflow data is a JSON-friendly dict::

    {"trigger": <data it was triggered with>, "topic": <topic or None>, "outputs": {<task id>: <output>}}

A task's ``event.data`` is the trigger data for the root task, its parent's output otherwise, and the list
of its parents' outputs (in graph order) for a task with several parents (a join). What a task returns is
its output. Edges between tasks are outcomes with the value :data:`TASK_DONE`, so a task step that ends
with another outcome value (:data:`JOIN_PENDING`) ends its pointer without starting the next tasks.

Joins: each parent's completion starts a pointer for the join task. A pointer runs the task only when
every parent's output is recorded and it is the newest pointer of the task (the one the last-arriving
parent started); the others end with :data:`JOIN_PENDING`. Pointers of one instance run one at a time
under its lock, so exactly one pointer runs the task, and the choice holds across passes and hosts.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from liteflow.core.serialization import to_jsonable
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext

#: The outcome value of a task that finished: it starts the task's children.
TASK_DONE = "liteflow.task-done"
#: The outcome value of a join pointer that does not run the task: it starts nothing.
JOIN_PENDING = "liteflow.join-pending"


@dataclass
class TaskEvent:
    """What a task receives: its input ``data``, the trigger's ``topic``, where the data comes from
    (``source``) and the task's ``config`` from the template."""

    data: Any
    topic: str | None = None
    #: ``{"workflow_id", "template_id", "task_id"}``; task_id is the parent task's id (None for the root,
    #: the list of parent ids for a join).
    source: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    """One task of a compiled template."""

    task_id: str
    name: str
    template_id: str
    config: Mapping[str, Any]
    parents: tuple[str, ...]


def initial_data(data: Any, topic: str | None) -> dict[str, Any]:
    return {"trigger": data, "topic": topic, "outputs": {}}


def template_data(context: StepExecutionContext) -> dict[str, Any]:
    """The instance's template data; an instance started with other data (``start_workflow``) gets it
    wrapped as the trigger data."""
    instance = context.workflow
    data = instance.data
    if not (isinstance(data, dict) and isinstance(data.get("outputs"), dict) and "trigger" in data):
        data = initial_data(data, None)
        instance.data = data
    return data


def is_body_task(impl: Any) -> bool:
    return inspect.isclass(impl) and issubclass(impl, StepBody)


class TaskStep(StepBody):
    """Runs one template task: builds its event, calls it, records its output."""

    def __init__(self, spec: TaskSpec, impl: Any) -> None:
        self.spec = spec
        self.impl = impl

    def run(self, context: StepExecutionContext) -> ExecutionResult | Awaitable[ExecutionResult]:
        data = template_data(context)
        if len(self.spec.parents) > 1 and not self.runs_join(context, data["outputs"]):
            return ExecutionResult(proceed=True, outcome_value=JOIN_PENDING, persistence_data={"join": "pending"})
        event = self.make_event(context, data)
        if is_body_task(self.impl):
            return self.run_body(event, context)
        value = self.impl(event)
        if inspect.isawaitable(value):
            return self.finish_later(value, context)
        return self.finish(value, context)

    # -- joins -----------------------------------------------------------------------------------------
    def runs_join(self, context: StepExecutionContext, outputs: Mapping[str, Any]) -> bool:
        """All parents are done and this is the newest pointer of this task (started by the last one)."""
        if any(parent not in outputs for parent in self.spec.parents):
            return False
        mine = [p for p in context.workflow.execution_pointers if p.step_id == context.step.id]
        return mine[-1].id == context.execution_pointer.id

    # -- the event -------------------------------------------------------------------------------------
    def make_event(self, context: StepExecutionContext, data: Mapping[str, Any]) -> TaskEvent:
        parents, outputs = self.spec.parents, data["outputs"]
        source_task: str | list[str] | None
        if not parents:
            value, source_task = data.get("trigger"), None
        elif len(parents) == 1:
            value, source_task = outputs[parents[0]], parents[0]
        else:
            value, source_task = [outputs[p] for p in parents], list(parents)
        source = {"workflow_id": context.workflow.id, "template_id": self.spec.template_id, "task_id": source_task}
        return TaskEvent(
            data=copy.deepcopy(value),
            topic=data.get("topic"),
            source=source,
            config=copy.deepcopy(dict(self.spec.config)),
        )

    # -- running ---------------------------------------------------------------------------------------
    def run_body(self, event: TaskEvent, context: StepExecutionContext) -> Any:
        body = self.impl()
        body.event = event
        body.config = event.config
        fields = getattr(body, "config_fields", None)
        for key, value in event.config.items():
            allowed = key in fields if fields is not None else not key.startswith("_") and hasattr(body, key)
            if allowed:
                setattr(body, key, value)
        result = body.run(context)
        if inspect.isawaitable(result):
            return self.body_finish_later(body, result, context)
        return self.body_finish(body, result, context)

    async def body_finish_later(
        self, body: StepBody, awaitable: Awaitable[Any], context: StepExecutionContext
    ) -> ExecutionResult:
        return self.body_finish(body, await awaitable, context)

    def body_finish(self, body: StepBody, result: Any, context: StepExecutionContext) -> ExecutionResult:
        if result is None:
            result = ExecutionResult.next()
        if not isinstance(result, ExecutionResult):
            raise TypeError(
                f"task {self.spec.task_id!r} returned {type(result).__name__}, expected an ExecutionResult or None"
            )
        if not result.proceed:
            return result  # waiting for an event, sleeping or re-entering: the same pointer runs it again
        return self.finish(getattr(body, "output", None), context)

    async def finish_later(self, awaitable: Awaitable[Any], context: StepExecutionContext) -> ExecutionResult:
        return self.finish(await awaitable, context)

    def finish(self, value: Any, context: StepExecutionContext) -> ExecutionResult:
        """Record the output and start the children."""
        persistence = getattr(context.host, "persistence", None)
        if getattr(persistence, "stores_json", False):
            value = to_jsonable(value, f"outputs.{self.spec.task_id}")
        template_data(context)["outputs"][self.spec.task_id] = value
        return ExecutionResult(proceed=True, outcome_value=TASK_DONE)


__all__ = ["JOIN_PENDING", "TASK_DONE", "TaskEvent", "TaskSpec", "TaskStep", "initial_data"]
