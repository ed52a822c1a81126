"""``liteflow worker``: run a host until SIGTERM or SIGINT, then stop it gracefully and exit 0.

Before starting, the worker asks its persistence and queue once whether they answer, and exits 1 with
one line if not. While it runs it logs a progress line every ``--progress-interval`` seconds (steps per
second since the last line, instances being executed, instances runnable). The main thread only waits
on an event the signal handlers set: the host's own threads do the work.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType, ModuleType
from typing import Any

import click

from liteflow.cli.connect import Failure
from liteflow.cli.supervisor import SLOT_ENV
from liteflow.core.errors import LiteFlowError
from liteflow.core.interfaces import QueueLengths, QueueType
from liteflow.core.log import logger
from liteflow.core.models import WorkflowStatus
from liteflow.core.services.host import WorkflowHost

log = logger("worker")


def configure_logging(level: str) -> None:
    """Library log lines (key=value) to stderr at ``level``: the worker's ready and progress lines too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("liteflow")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


@contextmanager
def quiet_library() -> Iterator[None]:
    """Silence the library's own warnings (a failed driver call logs one) while a check fails loudly."""
    root = logging.getLogger("liteflow")
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


def check_store(host: WorkflowHost, where: str) -> None:
    """One call to the persistence and (if it can say) the queue: Failure with one line if one is away."""
    with quiet_library():
        try:
            host.persistence.count_workflows(status=WorkflowStatus.RUNNABLE)
            if isinstance(host.queue, QueueLengths):
                host.queue.queue_length(QueueType.WORKFLOW)
        except LiteFlowError as exc:
            raise Failure(f"the store at {where} does not answer: {exc}") from exc
        except OSError as exc:
            raise Failure(f"the store at {where} does not answer: {type(exc).__name__}: {exc}") from exc


def metrics_module() -> ModuleType:
    """``liteflow.metrics``; without prometheus-client a usage error (exit 2) naming the extra."""
    try:
        from liteflow import metrics
    except ImportError as exc:  # its message names the extra to install
        raise click.UsageError(f"--metrics-port: {exc}") from None
    return metrics


def start_metrics(host: WorkflowHost, port: int) -> Any:
    """``liteflow.metrics.serve(host, port)``: Prometheus text at ``http://127.0.0.1:port/metrics``."""
    return metrics_module().serve(host, port)


class StepCounter:
    """Counts steps run by this host (a step middleware: one increment per step)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.total = 0

    def __call__(self, context: Any, body: Any, next_step: Callable[[], Any]) -> Any:
        try:
            return next_step()
        finally:
            with self._mutex:
                self.total += 1


def run_worker(
    host: WorkflowHost, where: str, concurrency: int | None, metrics_port: int | None, interval: float
) -> None:
    if concurrency is not None:
        host.options = host.options.model_copy(update={"max_concurrent_workflows": concurrency})
    check_store(host, f"{where} ({type(host.persistence).__name__})")
    server = start_metrics(host, metrics_port) if metrics_port is not None else None
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if received:  # a second signal while stopping: give up waiting for in-flight steps
            log.warning("worker.forced", signal=signal.Signals(signum).name)
            raise SystemExit(1)
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    slot = os.environ.get(SLOT_ENV)
    if slot is not None:  # a supervisor's child: stop when its pipe closes (the supervisor is gone)
        threading.Thread(target=_stop_at_eof, args=(stop,), name="liteflow-supervisor-pipe", daemon=True).start()
    counter = StepCounter()
    host.add_step_middleware(counter)
    try:
        try:
            host.start()
        except LiteFlowError as exc:
            raise Failure(f"the worker could not start on {where}: {exc}") from exc
        definitions = sorted({d.id for d in host.registry.all()})
        log.info(
            "worker.ready",
            host_id=host.id,
            store=where,
            workers=host.options.max_concurrent_workflows,
            definitions=",".join(definitions),
            metrics_port=metrics_port,
            slot=slot,
        )
        _report_progress(host, counter, stop, interval)
        log.info("worker.stopping", signal=received[0] if received else None)
        host.stop()
        log.info("worker.stopped", steps=counter.total)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
            server.server_close()


def _stop_at_eof(stop: threading.Event) -> None:
    with suppress(OSError):  # the raw descriptor: a buffered read would hold stdin's lock at exit
        while os.read(0, 4096):
            continue
    if not stop.is_set():
        log.warning("worker.orphaned")
        stop.set()


def _report_progress(host: WorkflowHost, counter: StepCounter, stop: threading.Event, interval: float) -> None:
    last_total, last_time = 0, time.monotonic()
    while not stop.wait(interval):
        now, total = time.monotonic(), counter.total
        rate = (total - last_total) / max(now - last_time, 1e-9)
        last_total, last_time = total, now
        try:
            with quiet_library():
                runnable: int | None = host.persistence.count_workflows(status=WorkflowStatus.RUNNABLE)
        except LiteFlowError:
            runnable = None  # the store is away for a moment: the host rides it out, the line says so
        log.info(
            "worker.progress",
            steps_per_s=round(rate, 1),
            steps=total,
            running=len(host.processing_ids()),
            runnable=runnable,
        )
