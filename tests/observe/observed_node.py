"""A Redis worker node for the metrics and tracing tests, run as its own OS process.

    python observed_node.py metrics REDIS_URL PREFIX           serve /metrics, print its port, run until stdin closes
    python observed_node.py trace-start REDIS_URL PREFIX SPANS start a workflow inside a span, run it to its wait
    python observed_node.py trace-finish REDIS_URL PREFIX SPANS publish its event and run it to the end

Spans are written to SPANS, one JSON object per line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from liteflow.core import (
    ErrorBehavior,
    ExecutionResult,
    StepBody,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
    configure_workflow_host,
)
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider


class Work(StepBody):
    def run(self, context: Any) -> ExecutionResult:
        return ExecutionResult.next()


class FailsOnce(StepBody):
    def run(self, context: Any) -> ExecutionResult:
        if context.execution_pointer.retry_count == 0:
            raise RuntimeError("first attempt fails")
        return ExecutionResult.next()


class Counted(Workflow):
    """Three steps, the second failing on its first attempt: 3 completed runs and 1 failed per instance."""

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Work).name("first").then(FailsOnce).name("flaky").on_error(
            ErrorBehavior.RETRY, timedelta(milliseconds=50)
        ).then(Work).name("last")


class Traced(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Work)
            .name("before-wait")
            .wait_for("go", lambda data, context: context.workflow.id)
            .then(FailsOnce)
            .name("flaky")
            .on_error(ErrorBehavior.RETRY, timedelta(milliseconds=50))
            .then(Work)
            .name("after-wait")
        )


def redis_host(url: str, prefix: str) -> WorkflowHost:
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=prefix),
        queue=RedisQueueProvider(url, prefix=prefix),
        lock=RedisLockProvider(url, prefix=prefix, lease=5),
        poll_interval=0.2,
    )
    host.register_workflow(Counted())
    host.register_workflow(Traced())
    return host


def serve_metrics(url: str, prefix: str) -> None:
    from liteflow.metrics import serve

    host = redis_host(url, prefix)
    server = serve(host, 0)
    host.start()
    print(server.server_port, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    host.stop()
    server.shutdown()


class _FileExporter:
    """An OpenTelemetry span exporter appending one JSON line per finished span."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        with open(self.path, "a") as out:
            for span in spans:
                parent = span.parent
                out.write(
                    json.dumps(
                        {
                            "name": span.name,
                            "trace_id": f"{span.context.trace_id:032x}",
                            "span_id": f"{span.context.span_id:016x}",
                            "parent_id": None if parent is None else f"{parent.span_id:016x}",
                            "attributes": dict(span.attributes or {}),
                            "status": span.status.status_code.name,
                            "pid": os.getpid(),
                        }
                    )
                    + "\n"
                )
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _set_up_tracing(spans_path: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_FileExporter(spans_path)))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    return trace.get_tracer("tests")


def trace_start(url: str, prefix: str, spans_path: str) -> None:
    tracer = _set_up_tracing(spans_path)
    host = redis_host(url, prefix)
    with host:
        with tracer.start_as_current_span("client-request") as span:
            workflow_id = host.start_workflow("Traced")
            print(workflow_id, f"{span.get_span_context().trace_id:032x}", flush=True)
        deadline = time.monotonic() + 30
        while not any(p.event_name == "go" for p in host.get_workflow_instance(workflow_id).execution_pointers):
            assert time.monotonic() < deadline, "the workflow never reached its wait"
            time.sleep(0.02)  # a test driver waiting for another thread's progress


def trace_finish(url: str, prefix: str, spans_path: str, workflow_id: str) -> None:
    _set_up_tracing(spans_path)
    host = redis_host(url, prefix)
    with host:
        host.publish_event("go", workflow_id)
        instance = host.wait_for_workflow(workflow_id, timeout=30)
        assert instance.status is WorkflowStatus.COMPLETE, instance.status


if __name__ == "__main__":
    mode, redis_url, key_prefix = sys.argv[1:4]
    if mode == "metrics":
        serve_metrics(redis_url, key_prefix)
    elif mode == "trace-start":
        trace_start(redis_url, key_prefix, sys.argv[4])
    else:
        trace_finish(redis_url, key_prefix, sys.argv[4], sys.argv[5])
