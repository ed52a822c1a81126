"""OpenTelemetry traces: every step run is a span, and a workflow's steps share the trace it was started in.

Used automatically by every host when ``opentelemetry-api`` is installed (extra ``otel``). The span
middleware wraps a step only while a tracer provider is set (asked before each step, so a provider set
after the host was built is used from the next step on); until then a step costs one look at the API's
global and runs with no middleware around it, and nothing at all is added when the package is absent.

* A step run is a span named ``liteflow.step`` with the attributes ``liteflow.workflow_id``,
  ``liteflow.definition_id``, ``liteflow.step_id``, ``liteflow.step_name`` and ``liteflow.retry_count``;
  an exception the step raises is recorded on it and marks it as an error.
* ``start_workflow`` called inside a span stores that span's context in the instance
  (``WorkflowInstance.trace_context``, W3C trace-context headers through the global propagator), so
  every step of the workflow, on whichever host runs it, is a child of that span, in the same trace.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from liteflow.core.models import WorkflowInstance
from liteflow.core.step import StepBody, StepExecutionContext

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider
except ImportError:  # the optional extra is not installed: hosts run without spans
    trace = None  # type: ignore[assignment]

_INACTIVE = () if trace is None else (ProxyTracerProvider, NoOpTracerProvider)


def available() -> bool:
    """Whether the OpenTelemetry API is installed."""
    return trace is not None


def instrument(host: Any) -> bool:
    """Add the span middleware (used while a tracer provider is set) and the trace-context recorder to
    ``host``; False without the API."""
    if trace is None:
        return False
    host.add_workflow_middleware("pre", remember_trace_context)
    host.executor.add_middleware_while(_tracing, step_span)
    return True


#: A provider named by the environment is made by the API's first ``get_tracer_provider()`` call.
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _tracing() -> bool:
    """Whether a tracer provider is set (the API's default provider only hands out no-op spans).

    Reads the API's global (``trace.get_tracer_provider()`` looks at the environment on every call,
    which would cost a step more than the rest of this check)."""
    provider = getattr(trace, "_TRACER_PROVIDER", None)
    if provider is None:
        if not _PROVIDER_FROM_ENV and hasattr(trace, "_TRACER_PROVIDER"):
            return False
        provider = trace.get_tracer_provider()
    return not isinstance(provider, _INACTIVE)


def remember_trace_context(instance: WorkflowInstance) -> None:
    """Store the current span's context in a new instance (workflow "pre" middleware)."""
    if not _tracing():
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        instance.trace_context = carrier


def step_span(context: StepExecutionContext, body: StepBody, next_: Callable[[], Any]) -> Any:
    """Run the step inside a ``liteflow.step`` span (step middleware, used while :func:`_tracing`)."""
    instance = context.workflow
    carrier = instance.trace_context
    parent = propagate.extract(carrier) if carrier else None
    attributes: dict[str, str | int] = {
        "liteflow.workflow_id": instance.id,
        "liteflow.definition_id": instance.workflow_definition_id,
        "liteflow.step_id": context.step.id,
        "liteflow.step_name": context.step.display_name,
        "liteflow.retry_count": context.execution_pointer.retry_count,
    }
    tracer = trace.get_tracer("liteflow")
    with tracer.start_as_current_span("liteflow.step", context=parent, attributes=attributes):
        return next_()
