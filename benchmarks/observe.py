"""What metrics and tracing cost per step: memory W with and without them, interleaved in one run.

    python -m benchmarks.observe [--rounds 5] [--instances 1000]

Each round runs W (N instances of the 10-step chain) on a fresh memory host four ways: plain, with
``liteflow.metrics`` attached, with OpenTelemetry's API installed but no tracer provider set (what every
host pays once the ``otel`` extra is installed), and with both. The medians and their ratios to plain
are printed: compare ratios, not absolute figures, which move with the machine's load.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

from benchmarks.harness import MEMORY, Rig
from benchmarks.workloads import _w_once
from liteflow.core import WorkflowHost


def _plain(host: WorkflowHost) -> None:
    # every host adds the tracing middleware (guarded: asked before each step whether a tracer provider is
    # set) when the API is installed: take it out for "plain"
    from liteflow import tracing

    host._step_middleware[:] = [m for m in host._step_middleware if m is not tracing.step_span]
    guarded = host.executor.guarded
    guarded[:] = [(guard, middleware) for guard, middleware in guarded if middleware is not tracing.step_span]


def _metrics(host: WorkflowHost) -> None:
    from liteflow.metrics import WorkflowMetrics

    _plain(host)
    WorkflowMetrics().attach(host)


def _tracing_api(host: WorkflowHost) -> None:
    pass  # as configured: the span middleware finds no tracer provider and runs the step


def _both(host: WorkflowHost) -> None:
    from liteflow.metrics import WorkflowMetrics

    WorkflowMetrics().attach(host)


CASES: dict[str, Callable[[WorkflowHost], None]] = {
    "plain": _plain,
    "metrics": _metrics,
    "otel API, no provider": _tracing_api,
    "metrics + otel API": _both,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instances", type=int, default=1000)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, prepare in CASES.items():
            with Rig(None, MEMORY) as rig:
                prepare(rig.host)
                _w_once(rig, 50, 30.0, "warm")
                run = _w_once(rig, args.instances, 60.0, name)
                rates[name].append(run.steps_per_s or 0.0)
    plain = statistics.median(rates["plain"])
    print(f"memory W, N={args.instances}, {args.rounds} interleaved rounds (median steps/s)")
    for name, values in rates.items():
        median = statistics.median(values)
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        print(f"  {name:24s} {median:10,.0f}   {median / plain:6.3f}x of plain   (runs: {spread})")


if __name__ == "__main__":
    main()
