"""Prometheus metrics for a host: steps run, their durations, workflows started and finished.

``WorkflowMetrics`` is a subscriber, not a hook in the engine: a step middleware times every step and
counts how it ended, and a lifecycle callback counts the workflows this host started and finished. The
counts are kept in plain per-thread tables (a step costs two clock reads, a dictionary look-up and a few
additions, measured in ``benchmarks``) and turned into Prometheus families only when ``/metrics`` is
scraped, by a collector registered in a registry of this object's own (so several hosts in one process
never clash over names).

Exposed (labels in braces):

* ``liteflow_steps_total{definition,step,result}``, result ``completed`` or ``failed``;
* ``liteflow_step_duration_seconds{definition,step}`` (histogram);
* ``liteflow_workflows_started_total{definition}``;
* ``liteflow_workflows_finished_total{definition,status}``, status ``COMPLETE`` or ``TERMINATED``.

Needs the ``metrics`` extra (``pip install 'liteflow-workflows[metrics]'``).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

try:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("liteflow.metrics needs prometheus-client: pip install 'liteflow-workflows[metrics]'") from exc

from liteflow.core.lifecycle import LifecycleEvent, WorkflowCompleted, WorkflowStarted, WorkflowTerminated
from liteflow.core.step import StepBody, StepExecutionContext

#: Upper bounds of the step duration buckets, in seconds (``+Inf`` is added).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

_clock = time.perf_counter
_COMPLETED, _FAILED, _SUM = 0, 1, 2  # then one count per bucket (the last one is +Inf)


class _StepTable:
    """One thread's step counts: id(step) -> [completed, failed, seconds, per-bucket counts..., step,
    definition id]. The row keeps the step object, so its id is never reused while the row exists.

    Only its own thread writes a row; a new row is added under the shared mutex so that a scrape, which
    copies the tables under it, never sees one change size."""

    def __init__(self) -> None:
        self.rows: dict[int, list[Any]] = {}


class WorkflowMetrics:
    """The counters of one or more hosts (``attach``), exposed through ``registry``."""

    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS, registry: CollectorRegistry | None = None):
        self.buckets = tuple(sorted(buckets))
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._mutex = threading.Lock()
        self._tables: list[_StepTable] = []
        self._local = threading.local()
        self._started: dict[str, int] = {}
        self._finished: dict[tuple[str, str], int] = {}
        self.registry.register(_Collector(self))

    def attach(self, host: Any) -> WorkflowMetrics:
        """Count the steps ``host`` runs and the workflows it starts and finishes; returns self."""
        host.add_step_middleware(self.step_middleware)
        # this host's own events only: with a lifecycle hub, every host counts what it did itself
        host.on_lifecycle_event(
            self._on_lifecycle, WorkflowStarted, WorkflowCompleted, WorkflowTerminated, local_only=True
        )
        return self

    # -- recording -------------------------------------------------------------------------------------
    def step_middleware(self, context: StepExecutionContext, body: StepBody, next_: Callable[[], Any]) -> Any:
        started = _clock()
        try:
            result = next_()
        except BaseException:
            self._record(context, _clock() - started, _FAILED)
            raise
        self._record(context, _clock() - started, _COMPLETED)
        return result

    def _record(self, context: StepExecutionContext, seconds: float, result: int) -> None:
        try:
            table: _StepTable = self._local.table
        except AttributeError:
            table = self._local.table = _StepTable()
            with self._mutex:
                self._tables.append(table)
        step = context.step
        row = table.rows.get(id(step))
        if row is None:
            row = [0, 0, 0.0] + [0] * (len(self.buckets) + 1) + [step, context.workflow.workflow_definition_id]
            with self._mutex:
                table.rows[id(step)] = row
        row[result] += 1
        row[_SUM] += seconds
        row[3 + bisect_left(self.buckets, seconds)] += 1

    def _on_lifecycle(self, event: LifecycleEvent) -> None:
        definition = event.workflow_definition_id
        with self._mutex:
            if isinstance(event, WorkflowStarted):
                self._started[definition] = self._started.get(definition, 0) + 1
            else:
                status = "COMPLETE" if isinstance(event, WorkflowCompleted) else "TERMINATED"
                self._finished[(definition, status)] = self._finished.get((definition, status), 0) + 1

    # -- reading ---------------------------------------------------------------------------------------
    def step_rows(self) -> dict[tuple[str, str], list[float]]:
        """Every thread's rows added up: (definition, step name) -> [completed, failed, seconds, buckets...]."""
        with self._mutex:
            rows = [list(row) for table in self._tables for row in table.rows.values()]
        total: dict[tuple[str, str], list[float]] = {}
        for row in rows:
            step, definition = row[-2], row[-1]
            counts = row[:-2]
            into = total.setdefault((definition, step.display_name), [0.0] * len(counts))
            for i, count in enumerate(counts):
                into[i] += count
        return total

    def workflow_counts(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        with self._mutex:
            return dict(self._started), dict(self._finished)


class _Collector(Collector):
    def __init__(self, metrics: WorkflowMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        metrics = self.metrics
        steps = CounterMetricFamily(
            "liteflow_steps", "Steps run, by how they ended", labels=["definition", "step", "result"]
        )
        durations = HistogramMetricFamily(
            "liteflow_step_duration_seconds", "How long steps ran", labels=["definition", "step"]
        )
        bounds = [repr(b) for b in metrics.buckets] + ["+Inf"]
        for (definition, step), row in sorted(metrics.step_rows().items()):
            steps.add_metric([definition, step, "completed"], row[_COMPLETED])
            steps.add_metric([definition, step, "failed"], row[_FAILED])
            cumulative, buckets = 0.0, []
            for bound, count in zip(bounds, row[3:], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([definition, step], buckets, row[_SUM])
        started_counts, finished_counts = metrics.workflow_counts()
        started = CounterMetricFamily(
            "liteflow_workflows_started", "Workflows started by this host", labels=["definition"]
        )
        for definition, count in sorted(started_counts.items()):
            started.add_metric([definition], count)
        finished = CounterMetricFamily(
            "liteflow_workflows_finished", "Workflows this host saw finish", labels=["definition", "status"]
        )
        for (definition, status), count in sorted(finished_counts.items()):
            finished.add_metric([definition, status], count)
        yield from (steps, durations, started, finished)


def metrics_of(host: Any) -> WorkflowMetrics:
    """The metrics attached to ``host``, attaching them the first time."""
    existing = getattr(host, "_liteflow_metrics", None)
    if isinstance(existing, WorkflowMetrics):
        return existing
    metrics = WorkflowMetrics().attach(host)
    host._liteflow_metrics = metrics
    return metrics


def serve(host: Any, port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``host``'s metrics as Prometheus text at ``http://addr:port/metrics`` in a daemon thread.
    Returns the HTTP server (``server.shutdown()`` stops it). ``port=0`` picks a free port
    (``server.server_port`` tells which)."""
    server, _thread = start_http_server(port, addr=addr, registry=metrics_of(host).registry)
    return server
