"""Prometheus metrics: counted by the host that ran the steps, served as Prometheus text."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from observed_node import Counted, redis_host

pytest.importorskip("prometheus_client")
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from liteflow.core import (
    ErrorBehavior,
    ExecutionResult,
    StepBody,
    Workflow,
    WorkflowBuilder,
    WorkflowStatus,
    configure_workflow_host,
)
from liteflow.metrics import WorkflowMetrics, metrics_of, serve

NODE = Path(__file__).with_name("observed_node.py")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(page: dict[Any, float], name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


class Fails(StepBody):
    def run(self, context: Any) -> ExecutionResult:
        raise KeyError("missing")


class FailsTwiceThenStops(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).name("ok").then(Fails).name("boom").on_error(
            ErrorBehavior.RETRY, timedelta(milliseconds=10), max_retries=1, then=ErrorBehavior.TERMINATE
        )


def test_steps_workflows_and_durations_are_counted_on_memory() -> None:
    host = configure_workflow_host()
    host.register_workflow(Counted())
    host.register_workflow(FailsTwiceThenStops())
    metrics = WorkflowMetrics().attach(host)
    with host:
        done = [host.start_workflow("Counted") for _ in range(4)]
        failed = host.start_workflow("FailsTwiceThenStops")
        for workflow_id in done:
            assert host.wait_for_workflow(workflow_id).status is WorkflowStatus.COMPLETE
        assert host.wait_for_workflow(failed).status is WorkflowStatus.TERMINATED
    page = samples(generate_latest(metrics.registry).decode())
    steps = "liteflow_steps_total"
    assert value(page, steps, definition="Counted", step="first", result="completed") == 4
    assert value(page, steps, definition="Counted", step="flaky", result="failed") == 4
    assert value(page, steps, definition="Counted", step="flaky", result="completed") == 4
    assert value(page, steps, definition="Counted", step="last", result="completed") == 4
    assert value(page, steps, definition="FailsTwiceThenStops", step="boom", result="failed") == 2
    assert value(page, steps, definition="FailsTwiceThenStops", step="boom", result="completed") == 0
    assert value(page, "liteflow_workflows_started_total", definition="Counted") == 4
    assert value(page, "liteflow_workflows_started_total", definition="FailsTwiceThenStops") == 1
    finished = "liteflow_workflows_finished_total"
    assert value(page, finished, definition="Counted", status="COMPLETE") == 4
    assert value(page, finished, definition="FailsTwiceThenStops", status="TERMINATED") == 1
    duration = "liteflow_step_duration_seconds"
    assert value(page, duration + "_count", definition="Counted", step="flaky") == 8
    assert value(page, duration + "_bucket", definition="Counted", step="last", le="+Inf") == 4
    assert 0 < value(page, duration + "_sum", definition="Counted", step="first") < 5


def test_terminated_from_outside_counts_and_metrics_attach_once() -> None:
    class Waits(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None).wait_for("never", lambda data, context: "k")

    host = configure_workflow_host()
    host.register_workflow(Waits())
    assert metrics_of(host) is metrics_of(host)
    with host:
        workflow_id = host.start_workflow("Waits")
        deadline = time.monotonic() + 10
        while not any(p.event_name for p in host.get_workflow_instance(workflow_id).execution_pointers):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert host.terminate_workflow(workflow_id)
    page = samples(generate_latest(metrics_of(host).registry).decode())
    assert value(page, "liteflow_workflows_finished_total", definition="Waits", status="TERMINATED") == 1
    assert value(page, "liteflow_steps_total", definition="Waits", step="WaitFor", result="completed") == 1


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_process_serves_exactly_the_steps_it_ran(redis_url: str, redis_cleanup: str) -> None:
    worker = subprocess.Popen(
        [sys.executable, str(NODE), "metrics", redis_url, redis_cleanup],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        port = int(worker.stdout.readline())
        client = redis_host(redis_url, redis_cleanup)  # never started: the worker runs everything
        ids = [client.start_workflow("Counted") for _ in range(10)]
        for workflow_id in ids:
            assert client.wait_for_workflow(workflow_id, timeout=60).status is WorkflowStatus.COMPLETE
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 10
        while True:  # the worker stores a pass before it counts nothing more: read until it settles
            page = samples(urllib.request.urlopen(url, timeout=5).read().decode())
            finished = value(page, "liteflow_workflows_finished_total", definition="Counted", status="COMPLETE")
            if finished == 10 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert finished == 10
        steps = "liteflow_steps_total"
        assert value(page, steps, definition="Counted", step="first", result="completed") == 10
        assert value(page, steps, definition="Counted", step="flaky", result="failed") == 10
        assert value(page, steps, definition="Counted", step="flaky", result="completed") == 10
        assert value(page, steps, definition="Counted", step="last", result="completed") == 10
        # the client started them: the worker counts none as started by itself
        assert value(page, "liteflow_workflows_started_total", definition="Counted") == 0
    finally:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait(timeout=30)
    assert worker.returncode == 0


def test_serve_answers_on_a_free_port() -> None:
    host = configure_workflow_host()
    server = serve(host, 0)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
    assert "# TYPE liteflow_steps_total counter" in text
    assert "# TYPE liteflow_step_duration_seconds histogram" in text
