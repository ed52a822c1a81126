"""The step body every template task compiles to, and the ``event`` a task receives.

A template instance's workflow data is a JSON-friendly dict::

    {"trigger": <data it was triggered with>, "topic": <topic or None>, "outputs": {<task id>: <output>}}

A task's ``event.data`` is the trigger data for the root task, its parent's output otherwise, and the list
of its parents' outputs (in graph order) for a task with several parents (a join). What a task returns is
its output. Edges between tasks are outcomes with the value :data:`TASK_DONE`, so a task step that ends
with another outcome value (:data:`JOIN_PENDING`, :data:`TASK_ENDED`) ends its pointer without starting the
next tasks: a task that failed, timed out or was cancelled ends its branch (its join children never run).
How a task ended is its pointer's persistence data (``{"state", "attempts", "error", "details", "report"}``),
which ``host.report`` reads; a task with ``"retry"`` sleeps on the same pointer between attempts.

Joins: each parent's completion starts a pointer for the join task. A pointer runs the task only when
every parent's output is recorded and it is the newest pointer of the task (the one the last-arriving
parent started); the others end with :data:`JOIN_PENDING`. Pointers of one instance run one at a time
under its lock, so exactly one pointer runs the task, and the choice holds across passes and hosts.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from liteflow.core.broker import EXEC_TOPIC, BrokerEvent
from liteflow.core.errors import SerializationError
from liteflow.core.log import logger
from liteflow.core.models import utcnow
from liteflow.core.serialization import to_jsonable
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext
from liteflow.core.templates import running
from liteflow.core.templates.inbox import stored_since
from liteflow.core.templates.running import TaskRun, TopicFeed

log = logger("templates")

#: The outcome value of a task that finished: it starts the task's children.
TASK_DONE = "liteflow.task-done"
#: The outcome value of a task that ended otherwise (its state is in the pointer's persistence data).
TASK_ENDED = "liteflow.task-ended"
#: The outcome value of a join pointer that does not run the task: it starts nothing.
JOIN_PENDING = "liteflow.join-pending"


@dataclass
class TaskEvent(BrokerEvent):
    """What a task receives: its input ``data``, the trigger's ``topic``, where the data comes from
    (``source``) and the task's ``config`` from the template. A task with ``"topics"`` also gets, while it
    runs, the data dispatched to them: ``queue`` (an ``asyncio.Queue`` of Events, for async tasks) or
    ``next_data(timeout)`` (sync tasks; None after ``timeout`` seconds without data)."""

    # ``source`` is ``{"workflow_id", "template_id", "task_id"}``; task_id is the parent task's id (None for
    # the root, the list of parent ids for a join).
    config: dict[str, Any] = field(default_factory=dict)
    queue: asyncio.Queue[BrokerEvent] | None = None
    feed: TopicFeed | None = field(default=None, repr=False)

    def next_data(self, timeout: float | None = None) -> BrokerEvent | None:
        if self.feed is None:
            raise RuntimeError("this task has no 'topics' to receive data from")
        return self.feed.next_data(timeout)


@dataclass(frozen=True)
class TaskSpec:
    """One task of a compiled template."""

    task_id: str
    name: str
    template_id: str
    config: Mapping[str, Any]
    parents: tuple[str, ...]
    topics: tuple[str, ...] = ()
    timeout: float | None = None
    retry_max: int = 0
    retry_interval: float = 0.0
    #: The whole template's timeout (seconds from the instance's start).
    template_timeout: float | None = None


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


def template_deadline_in(spec: TaskSpec, context: StepExecutionContext) -> float | None:
    """Seconds left before the template's timeout (None: it has none)."""
    if spec.template_timeout is None:
        return None
    started = context.workflow.create_time or utcnow()
    return spec.template_timeout - (utcnow() - started).total_seconds()


def exec_dispatch(context: StepExecutionContext, doc: dict[str, Any]) -> None:
    """Dispatch ``doc`` on :data:`~liteflow.core.broker.EXEC_TOPIC` (never raising into the task)."""
    broker = getattr(context.host, "broker", None)
    if broker is None:
        return
    try:
        broker.dispatch(doc, EXEC_TOPIC, {"workflow_id": context.workflow.id, "task_id": doc.get("task_id")})
    except Exception as exc:
        log.warning("template.exec_dispatch_failed", workflow_id=context.workflow.id, error=str(exc))


class TaskStep(StepBody):
    """Runs one template task: builds its event, calls it, records its output and how it ended."""

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
        if self.runs_inline():
            return self.execute_inline(event, context)
        return self.execute(event, context)

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

    # -- running a function or a holder ----------------------------------------------------------------
    def runs_inline(self) -> bool:
        """A sync task with no time limit and no topics runs in the worker's thread (nothing to abandon
        it for but a cancellation, which then waits for it to return)."""
        spec = self.spec
        limited = spec.timeout is not None or spec.template_timeout is not None
        return not (limited or spec.topics or running.is_async_task(self.impl))

    def execute_inline(self, event: TaskEvent, context: StepExecutionContext) -> Any:
        attempt, started, base = self.begin(context)
        if attempt == 0:
            exec_dispatch(context, {"event": "task-begin", **base, "name": self.spec.name})
        out = running.run_inline(self.impl, event, dict(event.config))
        if inspect.isawaitable(out.value):  # a plain function that returned a coroutine: await it
            return self.finish_later(out, attempt, started, context, base)
        return self.after(out, attempt, started, context, base)

    async def finish_later(
        self, out: running.Outcome, attempt: int, started: str, context: StepExecutionContext, base: dict[str, Any]
    ) -> ExecutionResult:
        try:
            out.value = await out.value
        except Exception as exc:
            out.state, out.error, out.details = running.FAILED, f"{type(exc).__name__}: {exc}", running.details_of(exc)
        return self.after(out, attempt, started, context, base)

    async def execute(self, event: TaskEvent, context: StepExecutionContext) -> ExecutionResult:
        spec, host = self.spec, context.host
        attempt, started, base = self.begin(context)
        limit, on_limit = spec.timeout, running.TIMEOUT
        remaining = template_deadline_in(spec, context)
        if remaining is not None and (limit is None or remaining < limit):
            limit, on_limit = max(0.0, remaining), running.CANCELLED
        feed, broker = None, getattr(host, "broker", None)
        if spec.topics and broker is not None:
            feed = event.feed = TopicFeed(spec.topics, running.is_async_task(self.impl))
            await feed.open(broker, self.backlog(context))
            event.queue = feed.queue
        if attempt == 0:  # once its topics are listened to: data dispatched from now on reaches it
            exec_dispatch(context, {"event": "task-begin", **base, "name": spec.name})
        run = TaskRun(asyncio.get_running_loop())
        runs = running.running_of(host) if host is not None else None
        if runs is not None:
            runs.add(context.workflow.id, run)
        try:
            out = await running.run_task(self.impl, event, dict(event.config), limit, run, on_limit)
        finally:
            if runs is not None:
                runs.remove(context.workflow.id, run)
            if feed is not None and broker is not None:
                feed.close(broker)
        return self.after(out, attempt, started, context, base)

    def begin(self, context: StepExecutionContext) -> tuple[int, str, dict[str, Any]]:
        """This run's attempt number (0: the first), when the first attempt started, the exec fields."""
        previous = context.persistence_data if isinstance(context.persistence_data, dict) else {}
        started = str(previous.get("start") or utcnow().isoformat())
        return int(previous.get("attempt", 0)), started, self.base(context)

    def after(
        self, out: running.Outcome, attempt: int, started: str, context: StepExecutionContext, base: dict[str, Any]
    ) -> ExecutionResult:
        """Another attempt after a failure (if the task has retries left), else the end of the task."""
        if out.state == running.FAILED and attempt < self.spec.retry_max:
            log.info("task.retry", workflow_id=context.workflow.id, task=self.spec.task_id, error=out.error)
            again = {"attempt": attempt + 1, "start": started}
            return ExecutionResult.sleep(timedelta(seconds=self.spec.retry_interval), again)
        record: dict[str, Any] = {"start": started, "end": utcnow().isoformat(), "attempts": attempt + 1}
        return self.ended(out, record, context, base)

    def backlog(self, context: StepExecutionContext) -> running.Backlog | None:
        """What was kept for the task's topics since its instance started (see templates.inbox)."""
        persistence, since = getattr(context.host, "persistence", None), context.workflow.create_time
        if persistence is None or since is None:
            return None
        return partial(stored_since, persistence, self.spec.topics, since)

    def ended(
        self, out: running.Outcome, record: dict[str, Any], context: StepExecutionContext, base: dict[str, Any]
    ) -> ExecutionResult:
        """Record how the task ended (its output when done) and start its children if it is done."""
        record["state"] = out.state
        if out.state == running.DONE:
            try:
                self.record_output(out.value, context)
            except SerializationError as exc:
                out.state, out.error = running.FAILED, str(exc)
                record["state"] = out.state
        if out.error is not None:
            record["error"], record["details"] = out.error, out.details
            log.warning("task.failed", workflow_id=context.workflow.id, task=self.spec.task_id, error=out.error)
        report = running.holder_report(out.holder)
        if report is not None:
            record["report"] = self.jsonable(report, context)
        exec_dispatch(context, {"event": "task-end", **base, "name": self.spec.name, "state": out.state})
        outcome = TASK_DONE if out.state == running.DONE else TASK_ENDED
        return ExecutionResult(proceed=True, outcome_value=outcome, persistence_data=record)

    def jsonable(self, value: Any, context: StepExecutionContext) -> Any:
        if not getattr(getattr(context.host, "persistence", None), "stores_json", False):
            return value
        try:
            return to_jsonable(value, f"report.{self.spec.task_id}")
        except SerializationError:
            return repr(value)

    # -- running a StepBody task (the built-ins) -------------------------------------------------------
    def run_body(self, event: TaskEvent, context: StepExecutionContext) -> Any:
        """A StepBody task: re-entrant (it may wait or sleep on its pointer); raising fails its branch."""
        base = self.base(context)
        if context.persistence_data is None and not context.execution_pointer.event_published:
            exec_dispatch(context, {"event": "task-begin", **base, "name": self.spec.name})
        try:
            body = self.impl()
            body.event = event
            body.config = event.config
            fields = getattr(body, "config_fields", None)
            for key, value in event.config.items():
                allowed = key in fields if fields is not None else not key.startswith("_") and hasattr(body, key)
                if allowed:
                    setattr(body, key, value)
            result = body.run(context)
        except Exception as exc:
            return self.body_failed(exc, context, base)
        if inspect.isawaitable(result):
            return self.body_finish_later(body, result, context, base)
        return self.body_finish(body, result, context, base)

    async def body_finish_later(
        self, body: StepBody, awaitable: Awaitable[Any], context: StepExecutionContext, base: dict[str, Any]
    ) -> ExecutionResult:
        try:
            result = await awaitable
        except Exception as exc:
            return self.body_failed(exc, context, base)
        return self.body_finish(body, result, context, base)

    def body_finish(
        self, body: StepBody, result: Any, context: StepExecutionContext, base: dict[str, Any]
    ) -> ExecutionResult:
        if result is None:
            result = ExecutionResult.next()
        if not isinstance(result, ExecutionResult):
            error = TypeError(f"returned {type(result).__name__}, expected an ExecutionResult or None")
            return self.body_failed(error, context, base)
        if not result.proceed:
            return result  # waiting for an event, sleeping or re-entering: the same pointer runs it again
        out = running.Outcome(running.DONE, getattr(body, "output", None))
        return self.ended(out, {"end": utcnow().isoformat(), "attempts": 1}, context, base)

    def body_failed(self, exc: Exception, context: StepExecutionContext, base: dict[str, Any]) -> ExecutionResult:
        out = running.Outcome(running.FAILED, error=f"{type(exc).__name__}: {exc}", details=running.details_of(exc))
        return self.ended(out, {"end": utcnow().isoformat(), "attempts": 1}, context, base)

    def base(self, context: StepExecutionContext) -> dict[str, Any]:
        return {"workflow_id": context.workflow.id, "template_id": self.spec.template_id, "task_id": self.spec.task_id}

    def record_output(self, value: Any, context: StepExecutionContext) -> None:
        persistence = getattr(context.host, "persistence", None)
        if getattr(persistence, "stores_json", False):
            value = to_jsonable(value, f"outputs.{self.spec.task_id}")
        template_data(context)["outputs"][self.spec.task_id] = value


__all__ = ["JOIN_PENDING", "TASK_DONE", "TASK_ENDED", "TaskEvent", "TaskSpec", "TaskStep", "initial_data"]
