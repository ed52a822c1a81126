"""W on Redis with 1, 2 and N worker processes: ``liteflow worker APP --processes K`` (one supervisor).

    python -m benchmarks.processes                          # K = 1, 2 and the CPU count; 3 rounds
    python -m benchmarks.processes --processes 1,2,4 --instances 2000 --rounds 1

Each run stores N instances of the 10-step chain under a key prefix of its own while no worker runs,
starts ``python -m liteflow worker benchmarks.processes:app --processes K`` on that prefix, waits until
the instances are complete (readiness polling of a count, not a measurement) and stops it with SIGTERM.
Steps/s is read from the store: N x 10 over the span from the first step's start to the last
completion, so the processes' start-up is not counted. Runs are interleaved (round-robin over K) and
the median is printed with the CPU count: one Python process uses one core, so the curve flattens at
the machine's cores. Every run is bounded (``--timeout``); its keys are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid

from benchmarks.harness import delete_keys, redis_answers, redis_host
from benchmarks.workflows import CHAIN, CHAIN_STEPS, register_all
from liteflow.core import WorkflowHost, WorkflowStatus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URL_ENV, PREFIX_ENV = "LITEFLOW_BENCH_REDIS_URL", "LITEFLOW_BENCH_PREFIX"


def app() -> WorkflowHost:
    """The workers' host (``liteflow worker benchmarks.processes:app``): Redis at $LITEFLOW_BENCH_REDIS_URL
    under $LITEFLOW_BENCH_PREFIX, with the benchmark workflows."""
    host = redis_host(os.environ[URL_ENV], os.environ[PREFIX_ENV])
    register_all(host)
    return host


def cpus() -> int:
    from liteflow.cli.supervisor import cpu_count

    return cpu_count()


class WorkerProcesses:
    """``liteflow worker APP --processes K``: the supervisor process, run from the repository with
    ``env`` added to this process's environment; counts its children's ``worker.ready`` lines."""

    def __init__(self, app: str, processes: int, env: dict[str, str]) -> None:
        env = {**os.environ, **env}
        env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        for name in ("LITEFLOW_APP", "LITEFLOW_PERSISTENCE", "LITEFLOW_PREFIX"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "liteflow", "worker", app, "--processes", str(processes)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready = 0
        self.tail: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if "worker.ready" in line:
                self.ready += 1
            self.tail = [*self.tail[-20:], line.rstrip()]

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def run_once(url: str, processes: int, instances: int, timeout: float) -> float | None:
    """Steps/s of one run (None if it ran out of time)."""
    prefix = f"lfbench:proc:{uuid.uuid4().hex[:10]}:"
    client = redis_host(url, prefix)  # never started: it only stores instances and reads them back
    register_all(client)
    try:
        for i in range(instances):
            client.start_workflow(CHAIN, 1, None, reference=f"p{i}")
        workers = WorkerProcesses("benchmarks.processes:app", processes, {URL_ENV: url, PREFIX_ENV: prefix})
        deadline = time.monotonic() + timeout
        try:
            while client.count_workflows(status=WorkflowStatus.COMPLETE) < instances:
                if time.monotonic() > deadline or workers.process.poll() is not None:
                    sys.stderr.write(f"  K={processes}: not complete in {timeout:.0f}s; {workers.tail[-3:]}\n")
                    return None
                time.sleep(0.2)
        finally:
            code = workers.stop()
            if code != 0:
                sys.stderr.write(f"  K={processes}: the workers exited {code}\n")
        done = []
        for skip in range(0, instances, 500):
            done += client.list_workflows(definition_id=CHAIN, skip=skip, take=500)
        first = min(p.start_time for i in done for p in i.execution_pointers if p.start_time is not None)
        last = max(i.complete_time for i in done if i.complete_time is not None)
        return instances * CHAIN_STEPS / (last - first).total_seconds()
    finally:
        for provider in (client.persistence, client.queue, client.lock):
            provider.close()
        delete_keys(url, prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.processes", description=__doc__.splitlines()[0])
    parser.add_argument("--processes", help="comma-separated K values (default: 1, 2 and the CPU count)")
    parser.add_argument("--instances", type=int, default=1000, help="N (default 1000: 10,000 steps a run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--redis-url", default=os.environ.get("LITEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    counts = sorted({int(k) for k in args.processes.split(",")} if args.processes else {1, 2, cpus()})
    away = redis_answers(args.redis_url)
    if away is not None:
        sys.stderr.write(f"skipped: {away}\n")
        return 2 if os.environ.get("LITEFLOW_REQUIRE_SERVICES") == "1" else 0
    rates: dict[int, list[float]] = {k: [] for k in counts}
    for _ in range(args.rounds):
        for k in counts:
            rate = run_once(args.redis_url, k, args.instances, args.timeout)
            if rate is not None:
                rates[k].append(rate)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"W on Redis, N={args.instances} x {CHAIN_STEPS} steps, {args.rounds} interleaved rounds, "
        f"{cpus()} CPUs ({platform.machine()}), load average {load:.1f} at the end"
    )
    base = statistics.median(rates[counts[0]]) if rates[counts[0]] else None
    for k in counts:
        values = rates[k]
        if not values:
            print(f"  --processes {k:<3d} timeout")
            continue
        median = statistics.median(values)
        ratio = f"{median / base:5.2f}x of {counts[0]}" if base else ""
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        print(f"  --processes {k:<3d} {median:8,.0f} steps/s   {ratio}   (runs: {spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
