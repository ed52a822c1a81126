"""The workloads: each runs on a started :class:`~benchmarks.harness.Rig` and returns result rows.

Every wait is bounded: a case that runs out of time returns a ``timeout`` row with what it measured.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from benchmarks import workflows as wf
from benchmarks.harness import MEMORY, REDIS, REDIS_2P, SQLITE, Rig
from benchmarks.measure import GcTimer, mean, ms, now, percentile
from benchmarks.nodes import ROOT
from benchmarks.report import OK, SKIPPED, TIMEOUT, Row, Target
from liteflow.core import PointerStatus, WorkflowHost

# -- targets (2-core machine), from the performance issue; two host processes only have a throughput
# target (>= 1.3x one host), SQLite W one of >= 0.5x one Redis host (both in report.apply_relative_targets) ---
W_STEPS_PER_S = {MEMORY: 20_000.0, REDIS: 4_000.0}
#: The N the absolute W target applies to (memory: "at N = 1,000"; Redis: at 1,000 and 10,000).
W_TARGET_SIZES = {MEMORY: (1_000,), REDIS: (1_000, 10_000)}
L_MEDIAN_MS = {MEMORY: 1.0, REDIS: 10.0}
E_P50_MS = {MEMORY: 1.0, REDIS: 3.0, SQLITE: 5.0}
H_RATIO = {MEMORY: 1.2}
RSS_MB_PER_10K = 100.0


@dataclass
class Plan:
    """How big and how long every case is (``--quick`` or full)."""

    quick: bool
    #: N for W, per configuration.
    w_sizes: dict[str, tuple[int, ...]]
    #: The N the "within 20%" comparison of memory W is made against, and the large N it checks.
    w_reference: int = 1_000
    w_large: int = 10_000
    #: N for the pre-queued variant of W (every configuration).
    w_prequeued: tuple[int, ...] = (1_000,)
    #: Runs per configuration and N (the median counts): short runs vary more than long ones.
    w_repeats: dict[str, dict[int, int]] = field(default_factory=dict)
    l_reps: dict[str, int] = field(default_factory=dict)
    l_warmup: int = 3
    e_instances: int = 50
    e_spacing: float = 0.05
    f_items: int = 1_000
    h_iterations: int = 5_000
    rss_instances: int = 10_000
    #: Workloads run with two Redis host processes.
    two_host_workloads: tuple[str, ...] = ("W", "L", "E", "F")
    #: Seconds: W gets ``w_timeout_base + N * w_timeout_per_instance``, at most ``w_timeout_max``.
    w_timeout_base: float = 30.0
    w_timeout_per_instance: float = 0.01
    w_timeout_max: float = 120.0
    l_timeout: float = 60.0
    e_timeout: float = 30.0
    f_timeout: float = 30.0
    h_timeout: float = 30.0
    rss_timeout: float = 120.0

    def w_timeout(self, n: int) -> float:
        return min(self.w_timeout_base + n * self.w_timeout_per_instance, self.w_timeout_max)


FULL = Plan(
    quick=False,
    w_sizes={
        MEMORY: (200, 1_000, 10_000),
        REDIS: (200, 1_000, 10_000),
        REDIS_2P: (200, 1_000, 10_000),
        SQLITE: (200, 1_000, 10_000),
    },
    w_repeats={MEMORY: {200: 5, 1_000: 3}, REDIS: {200: 3}, REDIS_2P: {200: 3}, SQLITE: {200: 3}},
    l_reps={MEMORY: 200, REDIS: 100, REDIS_2P: 100, SQLITE: 100},
)

QUICK = Plan(
    quick=True,
    w_sizes={MEMORY: (200, 1_000), REDIS: (200,), REDIS_2P: (200,), SQLITE: (200,)},
    w_large=1_000,
    w_prequeued=(200,),
    l_reps={MEMORY: 20, REDIS: 10, REDIS_2P: 10, SQLITE: 10},
    l_warmup=1,
    e_instances=10,
    f_items=100,
    h_iterations=300,
    rss_instances=1_000,
    two_host_workloads=("W",),
    w_timeout_base=20.0,
    w_timeout_max=30.0,
    l_timeout=15.0,
    e_timeout=15.0,
    f_timeout=15.0,
    h_timeout=15.0,
    rss_timeout=30.0,
)


def _abandon(host: WorkflowHost, workflow_id: str) -> str:
    """Terminate an instance that ran out of time (best effort: stopping the host ends it anyway);
    an empty string, or why it could not be terminated."""
    try:
        host.terminate_workflow(workflow_id)
    except Exception as exc:
        return f"; terminate_workflow failed: {type(exc).__name__}: {exc}"
    return ""


# -- W: throughput --------------------------------------------------------------------------------------
@dataclass
class _WRun:
    completed: int
    finished: bool
    steps_per_s: float | None
    latencies: list[float]
    start_seconds: float
    gc_seconds: float


def _w_once(rig: Rig, n: int, timeout: float, tag: str) -> _WRun:
    host = rig.host
    starts: dict[str, float] = {}
    target = rig.completions.count() + n
    with GcTimer() as gc_timer:
        t0 = now()
        for i in range(n):
            reference = f"w{tag}-{i}"
            starts[reference] = now()
            host.start_workflow(wf.CHAIN, 1, None, reference=reference)
            if now() - t0 > timeout:
                break
        start_seconds = now() - t0
        finished = rig.completions.wait_count(target, max(0.0, timeout - (now() - t0)))
    stopped = now()
    done = dict(rig.completions.done)
    latencies = [done[ref] - t for ref, t in starts.items() if ref in done]
    ends = [done[ref] for ref in starts if ref in done]
    end = max(ends) if finished and ends else stopped
    elapsed = end - t0
    steps = wf.CHAIN_STEPS * len(latencies)
    rate = steps / elapsed if elapsed > 0 else None
    return _WRun(len(latencies), finished, rate, latencies, start_seconds, gc_timer.seconds)


def run_w(rig: Rig, n: int, plan: Plan) -> Row:
    """N instances of the 10-step chain started at once (as fast as ``start_workflow`` goes, while the
    host already works): steps/s from the first start to the last completion, and each instance's
    start-to-complete latency. Small N is repeated (same host): the run with the median steps/s counts.
    Also: how long the start loop took, and the time this process spent in the garbage collector."""
    row = Row("W", rig.config, f"N={n}")
    timeout = plan.w_timeout(n)
    repeats = plan.w_repeats.get(rig.config, {}).get(n, 1)
    runs: list[_WRun] = []
    for rep in range(repeats):
        run = _w_once(rig, n, timeout, str(rep))
        runs.append(run)
        if not run.finished:
            break
    failed = next((r for r in runs if not r.finished), None)
    if failed is not None:
        chosen = failed
        row.status = TIMEOUT
        row.note = f"{failed.completed} of {n} completed in {timeout:.0f}s"
    else:
        ranked = sorted(runs, key=lambda r: r.steps_per_s or 0.0)
        chosen = ranked[len(ranked) // 2]
        if len(runs) > 1:
            rates = [r.steps_per_s or 0.0 for r in ranked]
            row.note = f"median of {len(runs)} runs ({rates[0]:,.0f} to {rates[-1]:,.0f} steps/s)"
    target = None
    if rig.config in W_STEPS_PER_S and n in W_TARGET_SIZES.get(rig.config, ()):
        target = Target(">=", W_STEPS_PER_S[rig.config])
    row.add("steps/s", chosen.steps_per_s, "", target)
    row.add("mean latency", ms(mean(chosen.latencies)), "ms")
    row.add("p99 latency", ms(percentile(chosen.latencies, 99)), "ms")
    row.add("start loop", chosen.start_seconds, "s")
    row.add("GC pauses", chosen.gc_seconds, "s")
    return row


def run_w_prequeued(rig: Rig, n: int, plan: Plan) -> Row:
    """W split in two: N instances created while no host runs (``start_workflow`` alone: starts/s),
    then the hosts start and run them all (steps/s from the hosts' start to the last completion)."""
    row = Row("W", rig.config, f"N={n} pre-queued")
    timeout = plan.w_timeout(n)
    t0 = now()
    for i in range(n):
        rig.host.start_workflow(wf.CHAIN, 1, None, reference=f"q{i}")
    created = now() - t0
    t1 = now()
    rig.go()
    finished = rig.completions.wait_count(n, timeout)
    done = list(rig.completions.done.values())
    end = max(done) if finished and done else now()
    if not finished:
        row.status = TIMEOUT
        row.note = f"{len(done)} of {n} completed in {timeout:.0f}s"
    row.add("exec steps/s", wf.CHAIN_STEPS * len(done) / (end - t1))
    row.add("starts/s", n / created if created > 0 else None)
    row.add("drain", end - t1, "s")
    return row


# -- L: latency on an idle host -------------------------------------------------------------------------
def run_l(rig: Rig, plan: Plan) -> Row:
    """One 10-step instance at a time on an otherwise idle host: start-to-complete latency."""
    reps = plan.l_reps.get(rig.config, 20)
    row = Row("L", rig.config, f"{reps} runs")
    deadline = now() + plan.l_timeout
    latencies: list[float] = []
    for i in range(-plan.l_warmup, reps):
        reference = f"l{i}"
        t = now()
        rig.host.start_workflow(wf.CHAIN, 1, None, reference=reference)
        if not rig.completions.wait_ref(reference, max(0.0, deadline - now())):
            row.status = TIMEOUT
            row.note = f"{len(latencies)} of {reps} runs in {plan.l_timeout:.0f}s"
            break
        if i >= 0:
            latencies.append(rig.completions.done[reference] - t)
        time.sleep(0.002)  # let the worker finish its bookkeeping: the next run finds an idle host
    target = Target("<=", L_MEDIAN_MS[rig.config]) if rig.config in L_MEDIAN_MS else None
    row.add("median", ms(percentile(latencies, 50)), "ms", target)
    row.add("p99", ms(percentile(latencies, 99)), "ms")
    row.add("mean", ms(mean(latencies)), "ms")
    return row


# -- E: event latency -------------------------------------------------------------------------------------
def _wait_until_waiting(host: WorkflowHost, ids: list[str], deadline: float) -> bool:
    """Poll (readiness only, not a measurement) until every instance waits for its event."""
    pending = list(ids)
    while pending:
        pending = [
            workflow_id
            for workflow_id in pending
            if not any(
                p.status is PointerStatus.WAITING_FOR_EVENT
                for p in host.get_workflow_instance(workflow_id).execution_pointers
            )
        ]
        if not pending:
            return True
        if now() > deadline:
            return False
        time.sleep(0.01)
    return True


def run_e(rig: Rig, plan: Plan) -> list[Row]:
    """Instances waiting for an event each; events published ``e_spacing`` apart, then (new instances)
    all in one burst: publish-to-complete latency (the instance runs one more step after the event)."""
    rows = []
    total = 0
    count = plan.e_instances
    for mode in ("spaced", "burst"):
        label = f"{count} events {int(plan.e_spacing * 1000)} ms apart" if mode == "spaced" else f"{count} in a burst"
        row = Row("E", rig.config, label)
        rows.append(row)
        deadline = now() + plan.e_timeout
        keys = {f"e-{mode}-{i}": f"{mode}-{i}" for i in range(count)}
        ids = [rig.host.start_workflow(wf.EVENT, 1, {"key": key}, reference=ref) for ref, key in keys.items()]
        if not _wait_until_waiting(rig.host, ids, deadline):
            row.status = TIMEOUT
            row.note = "the instances did not all reach their wait_for step"
            break
        time.sleep(0.1)  # every worker idle again
        published: dict[str, float] = {}
        t0 = now()
        for i, (ref, key) in enumerate(keys.items()):
            published[ref] = now()
            rig.host.publish_event(wf.EVENT_NAME, key, i)
            if mode == "spaced":
                time.sleep(max(0.0, t0 + (i + 1) * plan.e_spacing - now()))
        total += count
        if not rig.completions.wait_count(total, max(0.0, deadline - now())):
            row.status = TIMEOUT
        done = dict(rig.completions.done)
        latencies = [done[ref] - t for ref, t in published.items() if ref in done]
        if row.status == TIMEOUT:
            row.note = f"{len(latencies)} of {count} completed in {plan.e_timeout:.0f}s"
        target = Target("<=", E_P50_MS[rig.config]) if rig.config in E_P50_MS else None
        row.add("p50", ms(percentile(latencies, 50)), "ms", target)
        row.add("p99", ms(percentile(latencies, 99)), "ms")
        if mode == "burst" and latencies:
            # a burst is bound by throughput: the n-th event waits for the n-1 before it
            last_done = max(done[ref] for ref in published if ref in done)
            row.add("events/s", len(latencies) / (last_done - t0) if last_done > t0 else None)
        if row.status == TIMEOUT:
            break
    return rows


# -- F: for_each ------------------------------------------------------------------------------------------
def run_f(rig: Rig, plan: Plan) -> list[Row]:
    """One instance: a for_each over ``f_items`` items (a no-op step each), parallel then sequential."""
    rows = []
    for mode, definition in (("parallel", wf.FOREACH_PARALLEL), ("sequential", wf.FOREACH_SEQUENTIAL)):
        items = plan.f_items
        row = Row("F", rig.config, f"{items} items {mode}")
        rows.append(row)
        reference = f"f-{mode}"
        t = now()
        workflow_id = rig.host.start_workflow(definition, 1, {"n": items}, reference=reference)
        if rig.completions.wait_ref(reference, plan.f_timeout):
            seconds = rig.completions.done[reference] - t
            row.add("total", seconds, "s")
            row.add("items/s", items / seconds if seconds > 0 else None)
            row.add("per item", ms(seconds / items), "ms")
        else:
            row.status = TIMEOUT
            row.note = f"not complete after {plan.f_timeout:.0f}s" + _abandon(rig.host, workflow_id)
            row.add("total", None, "s")
    return rows


# -- H: a long while_ loop ----------------------------------------------------------------------------------
def run_h(rig: Rig, plan: Plan) -> Row:
    """One instance looping ``h_iterations`` times; every iteration stamps ``perf_counter`` in this
    process: the mean interval of the first 100 iterations against the last 100."""
    iterations = plan.h_iterations
    row = Row("H", rig.config, f"{iterations} iterations")
    if rig.config == REDIS_2P:
        row.status = SKIPPED
        row.note = "one instance: iterations would be stamped in two processes"
        return row
    wf.TICKS.clear()
    data = wf.LoopData()
    data.n = iterations
    workflow_id = rig.host.start_workflow(wf.LOOP, 1, data, reference="h")
    abandoned = ""
    if not rig.completions.wait_ref("h", plan.h_timeout):
        row.status = TIMEOUT
        abandoned = _abandon(rig.host, workflow_id)
    ticks = list(wf.TICKS)
    intervals = [b - a for a, b in itertools.pairwise(ticks)]
    window = min(100, len(intervals) // 2)
    first = mean(intervals[:window]) if window else None
    last = mean(intervals[-window:]) if window else None
    if row.status == TIMEOUT:
        row.note = f"{len(ticks)} of {iterations} iterations in {plan.h_timeout:.0f}s; last = the last 100 run"
        row.note += abandoned
    elif window < 100:
        row.note = f"windows of {window}"
    target = Target("<=", H_RATIO[rig.config]) if rig.config in H_RATIO else None
    row.add("last/first", last / first if first and last else None, "x", target)
    row.add("first 100", ms(first), "ms/iter")
    row.add("last 100", ms(last), "ms/iter")
    return row


# -- RSS: memory per completed instance -------------------------------------------------------------------
def run_rss(plan: Plan) -> Row:
    """In a fresh process (``python -m benchmarks.rss``): peak RSS growth while ``rss_instances`` chain
    instances run to completion on the memory providers, scaled to 10,000 instances."""
    n = plan.rss_instances
    row = Row("RSS", MEMORY, f"N={n}")
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    command = [sys.executable, "-m", "benchmarks.rss", "--instances", str(n), "--timeout", str(plan.rss_timeout)]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=plan.rss_timeout + 30, check=False
        )
    except subprocess.TimeoutExpired:
        row.status = TIMEOUT
        row.note = f"the measuring process did not finish in {plan.rss_timeout + 30:.0f}s"
        return row
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"benchmarks.rss exited {done.returncode}: {done.stderr.strip()[-500:]}")
    figures = json.loads(lines[-1])
    completed = int(figures["completed"])
    growth_mb = (figures["peak_kb"] - figures["baseline_kb"]) / 1024
    if not figures["finished"]:
        row.status = TIMEOUT
        row.note = f"{completed} of {n} completed in {plan.rss_timeout:.0f}s"
    elif n != 10_000:
        row.note = f"scaled from {n} instances"
    per_10k = growth_mb * 10_000 / completed if completed else None
    row.add("peak growth per 10k", per_10k, "MB", Target("<=", RSS_MB_PER_10K))
    row.add("peak RSS", figures["peak_kb"] / 1024, "MB")
    row.add("baseline RSS", figures["baseline_kb"] / 1024, "MB")
    if figures.get("current_kb") is not None:
        row.add("RSS after", figures["current_kb"] / 1024, "MB")
    return row


def status_ok(rows: list[Row]) -> bool:
    return all(r.status in (OK, SKIPPED) for r in rows)
