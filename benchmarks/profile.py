"""Where a step's time goes: the W workload (10-step chains), or an event's (``--workload E``: a published
event taken by the event consumer, which wakes a waiting instance and runs its last two steps), profiled
with pyinstrument.

    python -m benchmarks.profile --providers memory --instances 1000
    python -m benchmarks.profile --providers redis --instances 300
    python -m benchmarks.profile --providers sqlite --instances 300
    python -m benchmarks.profile --providers redis --instances 300 --workload E

To see one step's cost without the noise of threads fighting over the GIL, the host is not started:
this process starts the instances (as a client), then takes them off the queue and runs them itself,
in its main thread, with the host's own workflow consumer (the code a worker thread runs). A lifecycle
listener for ``WorkflowCompleted`` is registered as in the benchmarks. pyinstrument's hooks slow
Python calls down (about 3x), so read the shares, not the absolute times; the same work is also timed
without the profiler. Then, for contrast, the started host (worker threads) runs W for several worker
counts.

Writes ``<out-dir>/profile-<providers>.txt``: the share of the time per package, per function (self and
inclusive), the worker-count sweep, then pyinstrument's call tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

from benchmarks.harness import delete_keys, redis_answers, redis_host, sqlite_host
from benchmarks.measure import Completions
from benchmarks.nodes import close_providers
from benchmarks.workflows import CHAIN, CHAIN_STEPS, EVENT, EVENT_NAME, register_all
from liteflow.core import WorkflowHost, configure_workflow_host
from liteflow.core.interfaces import QueueType

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

#: (substring of a file path, package label), first match wins.
PACKAGES = (
    ("liteflow/core/engine", "liteflow engine"),
    ("liteflow/core/services", "liteflow services (host, consumers)"),
    ("liteflow/core/primitives", "liteflow primitives"),
    ("liteflow/core", "liteflow core (models, lifecycle, serialization, ...)"),
    ("providers/memory", "memory providers"),
    ("providers/redis", "redis providers"),
    ("providers/sqlite", "sqlite providers (incl. sqlite3 calls)"),
    ("site-packages/redis", "redis-py (incl. socket I/O)"),
    ("pydantic", "pydantic"),
    ("structlog", "structlog"),
    ("json", "json"),
    ("copy.py", "copy (deepcopy)"),
    ("threading.py", "threading"),
    ("socket.py", "socket"),
    ("benchmarks", "benchmarks (listener, steps)"),
)


def package_of(path: str, function: str = "") -> str:
    if function.startswith("socket."):
        return "socket I/O (sending, and waiting for Redis's answers)"
    normalised = path.replace(os.sep, "/")
    for needle, label in PACKAGES:
        if needle in normalised:
            return label
    return "other (stdlib, builtins)"


def drive(host: Any, expected: int, completions: Completions, timeout: float) -> None:
    """Run queued workflows in this thread with the host's consumer until ``expected`` completed."""
    from liteflow.core.services.workflow_consumer import WorkflowConsumer

    consumer = WorkflowConsumer(host.runtime)
    deadline = time.monotonic() + timeout
    while completions.count() < expected and time.monotonic() < deadline:
        workflow_id = host.queue.dequeue_work(QueueType.WORKFLOW, 0.05)
        if workflow_id is not None:
            consumer.process(workflow_id)


def drive_events(host: Any, references: list[str], completions: Completions, timeout: float) -> None:
    """Publish the event each of ``references`` (BenchEvent instances, waiting) waits for, one at a time,
    and have this thread take it as an event worker does: the event consumer delivers it and runs the woken
    instance at once (as ``Workers.run_woken`` does with a free slot); anything queued meanwhile runs too."""
    from liteflow.core.services.event_consumer import EventConsumer
    from liteflow.core.services.workflow_consumer import WorkflowConsumer

    workflows = WorkflowConsumer(host.runtime)
    consumer = EventConsumer(host.runtime, workflows, lambda instance, run_held: run_held(instance) or True)
    queue = host.queue
    deadline = time.monotonic() + timeout
    for reference in references:
        host.publish_event(EVENT_NAME, reference, None)
        while completions.get(reference) is None and time.monotonic() < deadline:
            event_id = queue.dequeue_work(QueueType.EVENT, 0)
            if event_id is not None:
                consumer.process(event_id)
                continue
            workflow_id = queue.dequeue_work(QueueType.WORKFLOW, 0.05)
            if workflow_id is not None:
                workflows.process(workflow_id)


def waiting_instances(host: Any, prefix: str, n: int, completions: Completions, timeout: float) -> list[str]:
    """``n`` BenchEvent instances started and run up to their wait for an event (key: the reference)."""
    from liteflow.core.models import PointerStatus
    from liteflow.core.services.workflow_consumer import WorkflowConsumer

    consumer = WorkflowConsumer(host.runtime)
    references = [f"{prefix}{i}" for i in range(n)]
    ids = [host.start_workflow(EVENT, 1, {"key": reference}, reference=reference) for reference in references]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workflow_id = host.queue.dequeue_work(QueueType.WORKFLOW, 0.05)
        if workflow_id is not None:
            consumer.process(workflow_id)
        elif all(
            any(p.status is PointerStatus.WAITING_FOR_EVENT for p in host.get_workflow_instance(i).execution_pointers)
            for i in ids
        ):
            return references
    raise SystemExit("the instances did not all reach their wait for an event")


def analyse(session: Any, total_steps: int, unit: str = "step") -> str:
    """Self and inclusive time per function and per package, as text."""
    root = session.root_frame()
    total = root.time if root is not None else 0.0
    self_time: dict[tuple[str, str], float] = defaultdict(float)
    inclusive: dict[tuple[str, str], float] = defaultdict(float)
    by_package: dict[str, float] = defaultdict(float)

    def walk(frame: Any, path: frozenset[tuple[str, str]]) -> None:
        key = (frame.function, f"{frame.file_path_short}:{frame.line_no}")
        own = frame.time - sum(c.time for c in frame.children if not c.is_synthetic)
        self_time[key] += own
        by_package[package_of(frame.file_path or "", frame.function or "")] += own
        if key not in path:
            inclusive[key] += frame.time
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, path | {key})

    if root is not None:
        walk(root, frozenset())
    per_step_us = total / total_steps * 1e6 if total_steps else 0.0
    lines = [f"profiled {total:.3f}s for {total_steps} {unit}s: {per_step_us:.1f} us per {unit} (one thread)", ""]
    lines.append("share of time by package (self time):")
    for label, seconds in sorted(by_package.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * seconds / total:5.1f}%  {seconds / total_steps * 1e6:7.1f} us/{unit}  {label}")
    lines += ["", "top functions by self time:"]
    for (function, where), seconds in sorted(self_time.items(), key=lambda kv: -kv[1])[:30]:
        lines.append(f"  {100 * seconds / total:5.1f}%  {function}  ({where})")
    lines += ["", "top functions by inclusive time:"]
    for (function, where), seconds in sorted(inclusive.items(), key=lambda kv: -kv[1])[:40]:
        lines.append(
            f"  {100 * seconds / total:5.1f}%  {seconds / total_steps * 1e6:7.1f} us/{unit}  {function}  ({where})"
        )
    return "\n".join(lines)


def _host(args: argparse.Namespace, prefix: str | None, **options: Any) -> WorkflowHost:
    if args.providers == "redis":
        assert prefix is not None
        host = redis_host(args.redis_url, prefix, **options)
    elif args.providers == "sqlite":
        host = sqlite_host(os.path.join(tempfile.mkdtemp(prefix="lfbench-profile-"), "liteflow.db"), **options)
    else:
        host = configure_workflow_host(**options)
    register_all(host)
    return host


def _close(host: WorkflowHost) -> None:
    host.close()
    close_providers(host)
    path = getattr(host.persistence, "path", None)
    if isinstance(path, str) and os.path.basename(os.path.dirname(path)).startswith("lfbench-profile-"):
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _server_stats(args: argparse.Namespace) -> tuple[float, dict[str, int]] | None:
    """CPU seconds the Redis server used so far (user + system) and calls per command; None for memory.
    Server-wide: commands other clients send meanwhile are counted too."""
    if args.providers != "redis":
        return None
    import redis

    client = redis.Redis.from_url(args.redis_url)
    try:
        cpu = client.info("cpu")
        commands = client.info("commandstats")
    finally:
        client.close()
    calls = {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in commands.items()}
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), calls


def _server_lines(
    before: tuple[float, dict[str, int]] | None, after: tuple[float, dict[str, int]] | None, steps: int
) -> list[str]:
    if before is None or after is None or not steps:
        return []
    lines = [f"redis-server used {(after[0] - before[0]) / steps * 1e6:.1f} us of CPU per step meanwhile"]
    calls = {name: after[1].get(name, 0) - before[1].get(name, 0) for name in after[1]}
    calls = {name: count for name, count in calls.items() if count > 0 and name not in ("info",)}
    total = sum(calls.values())
    detail = ", ".join(f"{name} {count / steps:.2f}" for name, count in sorted(calls.items(), key=lambda kv: -kv[1]))
    lines.append(
        f"Redis commands per step: {total / steps:.2f} ({detail}); "
        "calls made inside Lua scripts included; server-wide counts"
    )
    return lines


def single_thread(args: argparse.Namespace, prefix: str | None) -> tuple[str, str]:
    """Profile the instances run in this thread; the analysis and pyinstrument's call tree."""
    try:
        from pyinstrument import Profiler
    except ImportError as exc:  # a development extra
        raise SystemExit("benchmarks.profile needs pyinstrument: pip install -e '.[dev]'") from exc

    host = _host(args, prefix)
    completions = Completions()
    completions.listen(host)
    n = args.instances
    try:
        # warm up (imports, connections, script loading) outside the measurements
        host.start_workflow(CHAIN, 1, None, reference="warmup")
        drive(host, 1, completions, 30)
        # the same amount of work without the profiler: the true cost of a step in one thread
        stats0, t0, process0 = _server_stats(args), time.perf_counter(), time.process_time()
        for i in range(n):
            host.start_workflow(CHAIN, 1, None, reference=f"u{i}")
        drive(host, n + 1, completions, args.timeout)
        seconds, process = time.perf_counter() - t0, time.process_time() - process0
        stats1 = _server_stats(args)
        steps = (completions.count() - 1) * CHAIN_STEPS
        profiler = Profiler(interval=args.interval)
        profiler.start()
        for i in range(n):
            host.start_workflow(CHAIN, 1, None, reference=f"p{i}")
        drive(host, 2 * n + 1, completions, args.timeout)
        session = profiler.stop()
        done = completions.count() - n - 1
    finally:
        _close(host)
    lines = [
        f"W workload, {args.providers} providers, {done} of {n} instances x {CHAIN_STEPS} steps, run in one thread",
        f"without the profiler: {seconds / max(steps, 1) * 1e6:.1f} us of wall time per step "
        f"({steps / seconds:,.0f} steps/s), start_workflow included; "
        f"{process / max(steps, 1) * 1e6:.1f} us of this process's CPU per step",
    ]
    lines += _server_lines(stats0, stats1, steps)
    text = "\n".join(lines) + "\n\n" + analyse(session, done * CHAIN_STEPS)
    return text, profiler.output_text(unicode=False, color=False, show_all=False)


def single_thread_events(args: argparse.Namespace, prefix: str | None) -> tuple[str, str]:
    """Profile events taken in this thread (see ``drive_events``); the analysis and the call tree."""
    from pyinstrument import Profiler

    host = _host(args, prefix)
    completions = Completions()
    completions.listen(host)
    n = args.instances
    try:
        drive_events(host, waiting_instances(host, "warmup", 1, completions, 30), completions, 30)
        plain = waiting_instances(host, "u", n, completions, args.timeout)
        profiled = waiting_instances(host, "p", n, completions, args.timeout)
        stats0, t0, process0 = _server_stats(args), time.perf_counter(), time.process_time()
        drive_events(host, plain, completions, args.timeout)
        seconds, process = time.perf_counter() - t0, time.process_time() - process0
        stats1 = _server_stats(args)
        events = sum(1 for reference in plain if completions.get(reference) is not None)
        profiler = Profiler(interval=args.interval)
        profiler.start()
        drive_events(host, profiled, completions, args.timeout)
        session = profiler.stop()
        done = sum(1 for reference in profiled if completions.get(reference) is not None)
    finally:
        _close(host)
    lines = [
        f"E workload, {args.providers} providers, {done} of {n} events, each publish -> deliver -> the woken "
        "instance's last two steps, one at a time in one thread",
        f"without the profiler: {seconds / max(events, 1) * 1e6:.1f} us of wall time per event "
        f"({events / seconds:,.0f} events/s), publish included; "
        f"{process / max(events, 1) * 1e6:.1f} us of this process's CPU per event",
    ]
    lines += [line.replace("per step", "per event") for line in _server_lines(stats0, stats1, events)]
    text = "\n".join(lines) + "\n\n" + analyse(session, done, unit="event")
    return text, profiler.output_text(unicode=False, color=False, show_all=False)


def threads_sweep(args: argparse.Namespace, prefix: str | None) -> str:
    """The started host (its worker threads), W at ``--instances`` for several worker counts, no profiler."""
    lines = [f"started host, W with N={args.instances}, by max_concurrent_workflows (worker threads):"]
    for workers in args.workers:
        host = _host(args, None if prefix is None else f"{prefix}{workers}:", max_concurrent_workflows=workers)
        completions = Completions()
        completions.listen(host)
        host.start()
        try:
            t0 = time.perf_counter()
            for i in range(args.instances):
                host.start_workflow(CHAIN, 1, None, reference=f"t{i}")
            finished = completions.wait_count(args.instances, args.timeout)
            end = max(completions.done.values()) if finished else time.perf_counter()
            rate = completions.count() * CHAIN_STEPS / (end - t0)
            lines.append(f"  {workers:3d} workers: {rate:8,.0f} steps/s{'' if finished else ' (timed out)'}")
        finally:
            _close(host)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--providers", choices=("memory", "redis", "sqlite"), default="memory")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--workload", choices=("W", "E"), default="W", help="W: 10-step chains; E: events")
    parser.add_argument("--redis-url", default=os.environ.get("LITEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--out-dir", default=RESULTS)
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval, seconds")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--workers", type=lambda t: [int(v) for v in t.split(",")], default=[1, 2, 4, 8], help="for the sweep"
    )
    args = parser.parse_args(argv)

    prefix = None
    if args.providers == "redis":
        why = redis_answers(args.redis_url)
        if why is not None:
            print(why, file=sys.stderr)
            return 2
        prefix = f"lfbench:profile-{os.getpid()}:"
    try:
        if args.workload == "E":
            text, tree = single_thread_events(args, prefix)
            sweep = ""
        else:
            text, tree = single_thread(args, prefix)
            sweep = threads_sweep(args, prefix)
    finally:
        if prefix is not None:
            delete_keys(args.redis_url, prefix)
    os.makedirs(args.out_dir, exist_ok=True)
    suffix = "-events" if args.workload == "E" else ""
    path = os.path.join(args.out_dir, f"profile-{args.providers}{suffix}.txt")
    with open(path, "w") as out:
        out.write(f"{text}\n\n{sweep}\n\ncall tree (pyinstrument):\n{tree}\n")
    print(text)
    print()
    print(sweep)
    print(f"\nfull profile written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
