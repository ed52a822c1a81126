"""Helpers the scenario tests share: hosts, waiting, step recorders and tiny workflows.

Imported by the test modules as ``from support import ...`` (pytest puts this folder on ``sys.path``);
the fixtures built on them live in ``conftest.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

from waiting import WAIT
from waiting import wait_until as wait_until  # re-exported: the scenarios import it from here

from liteflow.core import (
    ExecutionPointer,
    PointerStatus,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowInstance,
    configure_workflow_host,
)

#: How long a test watches for something that must NOT happen.
QUIET = 0.3
MS = timedelta(milliseconds=1)


# -- hosts --------------------------------------------------------------------------------------------
def make_host(*providers: Any, retry_interval: timedelta = 50 * MS, **options: Any) -> WorkflowHost:
    """An in-memory host (unless providers are given) that polls every 100 ms and retries after 50 ms."""
    options.setdefault("poll_interval", 0.1)
    return configure_workflow_host(*providers, retry_interval=retry_interval, **options)


# -- waiting (and wait_until, from tests/waiting.py) --------------------------------------------------
def waiting_pointers(host: WorkflowHost, wid: str) -> list[ExecutionPointer]:
    """The pointers of instance ``wid`` that wait for an event."""
    pointers = host.get_workflow_instance(wid).execution_pointers
    return [p for p in pointers if p.status is PointerStatus.WAITING_FOR_EVENT]


def is_waiting(host: WorkflowHost, wid: str) -> bool:
    return bool(waiting_pointers(host, wid))


def waits_for(host: WorkflowHost, wid: str, event_name: str) -> bool:
    """Whether instance ``wid`` has reached a wait for ``event_name``."""
    return any(p.event_name == event_name for p in host.get_workflow_instance(wid).execution_pointers)


def register_and_run(host: WorkflowHost, workflow: Workflow, data: Any = None) -> WorkflowInstance:
    """Registers ``workflow``, starts the host if needed, runs one instance and returns it finished."""
    host.register_workflow(workflow)
    if not host.is_running:
        host.start()
    wid = host.start_workflow(workflow.id(), workflow.version(), data)
    return host.wait_for_workflow(wid, timeout=WAIT)


# -- a shared step log (cleared before every test by conftest.py) ------------------------------------
LOG: list[Any] = []
_LOG_LOCK = threading.Lock()


def record(value: Any) -> None:
    with _LOG_LOCK:
        LOG.append(value)


def step(name: str) -> Callable[[StepExecutionContext], None]:
    """A step that records ``name`` in :data:`LOG`."""

    def body(context: StepExecutionContext) -> None:
        record(name)

    return body


# -- parity scenarios: workflows built from a lambda, steps that log to a list of their own ----------
class Data:
    """The data of the workflows :func:`define` builds."""

    def __init__(self) -> None:
        self.value: Any = None
        self.result: Any = None
        self.counter = 0
        self.flag = False
        self.items: list[Any] = []
        self.done: list[str] = []


def with_value(value: Any) -> Data:
    data = Data()
    data.value = value
    return data


def define(host: WorkflowHost, build: Callable[[WorkflowBuilder], Any], wid: str = "W", version: int = 1) -> str:
    """Registers a workflow ``wid`` (version ``version``, data :class:`Data`) that ``build`` builds."""

    class W(Workflow):
        data_type = Data

        def id(self) -> str:
            return wid

        def version(self) -> int:
            return version

        def build(self, builder: WorkflowBuilder) -> None:
            build(builder)

    host.register_workflow(W())
    return wid


def run(host: WorkflowHost, wid: str = "W", data: Any = None, timeout: float = 10) -> Any:
    """Starts the latest version of ``wid`` and returns the instance once finished."""
    return host.wait_for_workflow(host.start_workflow(wid, None, data), timeout=timeout)


def rec(log: list[str], name: str, fn: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """A step that appends ``name`` to ``log`` and to ``data.done``, then runs ``fn(context)``
    (its result is the step's)."""

    def body(context: Any) -> Any:
        log.append(name)
        context.workflow.data.done.append(name)
        return fn(context) if fn is not None else None

    return body


class Flaky:
    """A step that fails its first ``failures`` runs (every run if None), noting when each run began;
    a run that succeeds appends ``name`` to ``data.done``."""

    def __init__(self, log: list[str], name: str, failures: int | None = None) -> None:
        self.log, self.name, self.failures = log, name, failures
        self.times: list[float] = []

    def __call__(self, context: Any) -> None:
        self.log.append(self.name)
        self.times.append(time.monotonic())
        if self.failures is None or len(self.times) <= self.failures:
            raise RuntimeError(f"{self.name} failed (run {len(self.times)})")
        context.workflow.data.done.append(self.name)

    def gaps(self) -> list[float]:
        return [b - a for a, b in pairwise(self.times)]
