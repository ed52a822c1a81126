"""Running one task: its call (async on the host's event loop, sync in a thread of its own), its time
limit, its cancellation and the topic data it receives while it runs.

A task's run ends one of four ways: ``done`` (it returned), ``failed`` (its holder's ``__init__`` or its run
raised), ``timeout`` (its own ``timeout`` ran out) or ``cancelled`` (the template's ``timeout`` ran out, or
its instance was terminated: ``host.cancel``, ``abort-running``, ``terminate_workflow``). On the last two an
async task is cancelled and a sync one abandoned (its thread runs on, its result is ignored), and its
holder's ``teardown()`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue as queues
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from liteflow.core.broker import BrokerEvent
from liteflow.core.log import logger
from liteflow.core.templates.holders import HolderTask
from liteflow.core.templates.inbox import Deduplicator
from liteflow.core.templates.per_host import PerHost

log = logger("templates")

DONE, FAILED, TIMEOUT, CANCELLED = "done", "failed", "timeout", "cancelled"
#: How long a cancelled async task is given to finish its own clean-up.
CANCEL_GRACE = 5.0


@dataclass
class Outcome:
    """How one run of a task ended."""

    state: str
    value: Any = None
    error: str | None = None
    details: str | None = None
    holder: Any = None


class TaskRun:
    """One running task: something ``cancel()`` can stop from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: asyncio.Future[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        task = self.task
        if task is not None:
            self.loop.call_soon_threadsafe(task.cancel)


class RunningTasks:
    """The tasks one host is running, by workflow id, and the instances recently cancelled: a task of
    one that starts after the cancellation arrived (its pass began before) is cancelled at once."""

    #: How many cancelled instance ids are remembered.
    REMEMBERED = 1024

    def __init__(self) -> None:
        self._runs: dict[str, set[TaskRun]] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._mutex = threading.Lock()

    def add(self, workflow_id: str, run: TaskRun) -> None:
        with self._mutex:
            self._runs.setdefault(workflow_id, set()).add(run)
            cancelled = workflow_id in self._cancelled
        if cancelled:
            run.cancel()

    def remove(self, workflow_id: str, run: TaskRun) -> None:
        with self._mutex:
            runs = self._runs.get(workflow_id)
            if runs is not None:
                runs.discard(run)
                if not runs:
                    del self._runs[workflow_id]

    def cancel(self, workflow_id: str) -> int:
        with self._mutex:
            runs = list(self._runs.get(workflow_id, ()))
            self._cancelled[workflow_id] = None
            while len(self._cancelled) > self.REMEMBERED:
                self._cancelled.popitem(last=False)
        for run in runs:
            run.cancel()
        return len(runs)


_running: PerHost[RunningTasks] = PerHost(lambda host: RunningTasks())


def running_of(host: Any) -> RunningTasks:
    """The tasks ``host`` is running."""
    return _running.of(host)


Backlog = Callable[[], list[BrokerEvent]]


class TopicFeed:
    """The data dispatched to a task's topics while it runs: ``queue`` (async) or ``next_data`` (sync);
    with a ``backlog``, what was stored for them before (each dispatch once, oldest first)."""

    def __init__(self, topics: tuple[str, ...], is_async: bool) -> None:
        self.topics = topics
        self.is_async = is_async
        self.queue: asyncio.Queue[BrokerEvent] | None = None
        self._sync: queues.Queue[BrokerEvent] = queues.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._once = Deduplicator()
        self._held: list[BrokerEvent] | None = []  # live data held while the backlog is read
        self._mutex = threading.Lock()

    async def open(self, broker: Any, backlog: Backlog | None = None) -> None:
        if self.is_async:
            self._loop = asyncio.get_running_loop()
            self.queue = asyncio.Queue()
        for topic in self.topics:
            broker.register(self.receive, topic)
        stored = await asyncio.to_thread(backlog) if backlog is not None else []
        with self._mutex:
            for event in [e for e in stored if self._once.first_time(e)] + (self._held or []):
                self._put(event)
            self._held = None

    def close(self, broker: Any) -> None:
        for topic in self.topics:
            broker.unregister(self.receive, topic)

    def receive(self, event: BrokerEvent) -> None:
        if not self._once.first_time(event):
            return
        with self._mutex:
            if self._held is not None:
                self._held.append(event)
                return
        self._put(event)

    def _put(self, event: BrokerEvent) -> None:
        if self.queue is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, event)
        else:
            self._sync.put(event)

    def next_data(self, timeout: float | None = None) -> BrokerEvent | None:
        """The next Event dispatched to the task's topics; None after ``timeout`` seconds without one."""
        try:
            return self._sync.get(timeout=timeout)
        except queues.Empty:
            return None


def target_of(impl: Any, config: dict[str, Any], out: Outcome) -> tuple[Callable[..., Any], bool]:
    """The callable that runs the task and whether it is a coroutine function (creating the holder)."""
    if isinstance(impl, HolderTask):
        out.holder = impl.create(config)
        return getattr(out.holder, impl.method), impl.is_async
    return impl, inspect.iscoroutinefunction(impl)


def is_async_task(impl: Any) -> bool:
    if isinstance(impl, HolderTask):
        return impl.is_async
    return inspect.iscoroutinefunction(impl)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a daemon thread of its own; cancelling the await abandons it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    def target() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn(*args)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone (its host stopped): nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=target, name="liteflow-task", daemon=True).start()
    result = await future
    if inspect.isawaitable(result):
        result = await result
    return result


async def run_task(
    impl: Any, event: Any, config: dict[str, Any], limit: float | None, run: TaskRun, on_limit: str
) -> Outcome:
    """Run the task within ``limit`` seconds (None: no limit); ``on_limit`` is the state it ends in then."""
    out = Outcome(DONE)

    async def call() -> Any:
        fn, is_async = target_of(impl, config, out)
        holder_queue = getattr(event, "queue", None)
        if out.holder is not None and holder_queue is not None and hasattr(out.holder, "queue"):
            out.holder.queue = holder_queue
        if is_async:
            return await fn(event)
        return await in_thread(fn, event)

    task = asyncio.ensure_future(call())
    run.task = task
    if run.cancelled:
        task.cancel()
    done, _ = await asyncio.wait({task}, timeout=limit)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_GRACE)
        out.state = on_limit
    elif task.cancelled():
        out.state = CANCELLED
    elif task.exception() is not None:
        exc = task.exception()
        assert exc is not None
        out.state = FAILED
        out.error = f"{type(exc).__name__}: {exc}"
        out.details = details_of(exc)
    else:
        out.value = task.result()
    if out.state in (TIMEOUT, CANCELLED):
        await teardown(out.holder)
    return out


def run_inline(impl: Any, event: Any, config: dict[str, Any]) -> Outcome:
    """A sync task in the calling thread (no time limit, nothing to cancel it with)."""
    out = Outcome(DONE)
    try:
        fn, _ = target_of(impl, config, out)
        out.value = fn(event)
    except Exception as exc:
        out.state, out.error, out.details = FAILED, f"{type(exc).__name__}: {exc}", details_of(exc)
    return out


def details_of(exc: BaseException) -> str:
    """The formatted traceback."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


async def teardown(holder: Any) -> None:
    method = getattr(holder, "teardown", None)
    if not callable(method):
        return
    try:
        result = method()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        log.warning("task.teardown_failed", error=f"{type(exc).__name__}: {exc}")


def holder_report(holder: Any) -> Any:
    method = getattr(holder, "report", None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception as exc:
        log.warning("task.report_failed", error=f"{type(exc).__name__}: {exc}")
        return None


__all__ = [
    "CANCELLED",
    "DONE",
    "FAILED",
    "TIMEOUT",
    "Outcome",
    "RunningTasks",
    "TaskRun",
    "TopicFeed",
    "is_async_task",
    "run_task",
    "running_of",
]
