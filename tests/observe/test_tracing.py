"""OpenTelemetry: a span per step run, errors marked, and one trace across the hosts that ran a workflow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

NODE = Path(__file__).with_name("observed_node.py")


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(NODE), *args], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.redis
@pytest.mark.slow
def test_one_trace_across_two_host_processes(redis_url: str, redis_cleanup: str, tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    workflow_id, trace_id = _run("trace-start", redis_url, redis_cleanup, str(spans_file)).split()
    _run("trace-finish", redis_url, redis_cleanup, str(spans_file), workflow_id)

    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    steps = [span for span in spans if span["name"] == "liteflow.step"]
    assert len({span["pid"] for span in steps}) == 2, "both processes ran steps"
    assert {span["trace_id"] for span in steps} == {trace_id}, "every step is in the trace the start was in"
    client = next(span for span in spans if span["name"] == "client-request")
    assert all(span["parent_id"] == client["span_id"] for span in steps)

    by_name: dict[str, list[dict]] = {}
    for span in steps:
        by_name.setdefault(span["attributes"]["liteflow.step_name"], []).append(span)
    assert set(by_name) >= {"before-wait", "WaitFor", "flaky", "after-wait"}
    flaky = sorted(by_name["flaky"], key=lambda span: span["attributes"]["liteflow.retry_count"])
    assert [span["status"] for span in flaky] == ["ERROR", "UNSET"]
    assert [span["attributes"]["liteflow.retry_count"] for span in flaky] == [0, 1]
    first = by_name["before-wait"][0]["attributes"]
    assert first["liteflow.workflow_id"] == workflow_id
    assert first["liteflow.definition_id"] == "Traced"
    assert isinstance(first["liteflow.step_id"], int)


def test_no_spans_and_no_trace_context_without_a_tracer_provider() -> None:
    # in a fresh process: OpenTelemetry's API installed, no provider set
    code = (
        "from liteflow.core import configure_workflow_host, Workflow\n"
        "from liteflow import tracing\n"
        "class W(Workflow):\n"
        "    def build(self, b): b.start_with(lambda c: None)\n"
        "host = configure_workflow_host(); host.register_workflow(W())\n"
        "with host:\n"
        "    wid = host.start_workflow('W'); inst = host.wait_for_workflow(wid)\n"
        "assert tracing.available()\n"
        "assert inst.trace_context is None, inst.trace_context\n"
        "print(inst.status.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "COMPLETE"


def test_hosts_run_without_the_api_installed() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "from liteflow.core import configure_workflow_host, Workflow\n"
        "from liteflow import tracing\n"
        "class W(Workflow):\n"
        "    def build(self, b): b.start_with(lambda c: None)\n"
        "host = configure_workflow_host(); host.register_workflow(W())\n"
        "with host:\n"
        "    wid = host.start_workflow('W'); print(host.wait_for_workflow(wid).status.name)\n"
        "assert not tracing.available()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "COMPLETE"


def test_spans_start_once_a_provider_is_set_after_the_host_was_built() -> None:
    # in a fresh process: the host is built (and runs a workflow) before any tracer provider is set
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from liteflow.core import configure_workflow_host, Workflow\n"
        "class W(Workflow):\n"
        "    def build(self, b): b.start_with(lambda c: None).name('first').then(lambda c: None).name('second')\n"
        "host = configure_workflow_host(); host.register_workflow(W())\n"
        "exporter = InMemorySpanExporter()\n"
        "with host:\n"
        "    before = host.wait_for_workflow(host.start_workflow('W'))\n"
        "    provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "    trace.set_tracer_provider(provider)\n"
        "    with trace.get_tracer('test').start_as_current_span('client') as client:\n"
        "        wid = host.start_workflow('W')\n"
        "    after = host.wait_for_workflow(wid)\n"
        "steps = [s for s in exporter.get_finished_spans() if s.name == 'liteflow.step']\n"
        "assert before.trace_context is None and after.trace_context, (before.trace_context, after.trace_context)\n"
        "assert {s.attributes['liteflow.workflow_id'] for s in steps} == {wid}, steps\n"
        "assert all(s.context.trace_id == client.get_span_context().trace_id for s in steps)\n"
        "print(sorted(s.attributes['liteflow.step_name'] for s in steps))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['first', 'second']"
