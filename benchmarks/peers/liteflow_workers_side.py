"""The four workloads on LiteFlow deployed as Celery is here: ``liteflow worker APP --processes N`` (one
worker process per CPU under one supervisor, as Celery's prefork pool) on Redis (database 11), and this
process a client that only starts workflows and publishes events, as Celery's side only sends tasks.

As on Celery's side, the last step of a workflow pushes ``[id, time.time()]`` onto a Redis list that this
process reads: a chain is 9 no-op steps and that one; a waiter parks on its event, then pushes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import redis

from benchmarks.peers import common
from liteflow.core import (
    ExecutionResult,
    PointerStatus,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    configure_workflow_host,
)

URL = "redis://127.0.0.1:6379/11"
DONE = "peers:done"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_redis = redis.Redis.from_url(URL)


class Noop(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult | None:
        return None


class Finish(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult | None:
        _redis.rpush(DONE, json.dumps([context.workflow.id, time.time()]))
        return None


class Chain(Workflow):
    def build(self, builder: WorkflowBuilder) -> Any:
        step = builder.start_with(Noop)
        for _ in range(common.CHAIN_STEPS - 2):
            step = step.then(Noop)
        step.then(Finish)


class Waiter(Workflow):
    def build(self, builder: WorkflowBuilder) -> Any:
        builder.start_with(Noop).wait_for("go", lambda data, context: data["key"]).then(Finish)


def app() -> WorkflowHost:
    """The workers' host (``liteflow worker benchmarks.peers.liteflow_workers_side:app``); this process's
    client too (never started)."""
    host = configure_workflow_host(persistence=URL)
    host.register_workflow(Chain())
    host.register_workflow(Waiter())
    return host


class _Workers:
    """``liteflow worker APP --processes N``: the supervisor; counts its children's ready lines."""

    def __init__(self, processes: int) -> None:
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for name in ("LITEFLOW_APP", "LITEFLOW_PERSISTENCE", "LITEFLOW_PREFIX"):
            env.pop(name, None)
        command = [sys.executable, "-m", "liteflow", "worker"]
        command += ["benchmarks.peers.liteflow_workers_side:app", "--processes", str(processes)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.ready = 0
        self.tail: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            if "worker.ready" in line:
                self.ready += 1
            self.tail = [*self.tail[-20:], line.rstrip()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait_done(count: int) -> dict[str, float]:
    seen: dict[str, float] = {}
    while len(seen) < count:
        item = _redis.blpop([DONE], timeout=common.DEADLINE)
        if item is None:
            raise TimeoutError("workflows did not all finish")
        workflow_id, at = json.loads(item[1])
        seen[workflow_id] = at
    return seen


def _chains(client: WorkflowHost, count: int) -> float:
    began = time.perf_counter()
    for i in range(count):
        client.start_workflow("Chain", 1, {"n": i})
    _wait_done(count)
    return time.perf_counter() - began


def _events(client: WorkflowHost, spacing: float) -> float:
    keys = [f"k{i}-{time.monotonic_ns()}" for i in range(common.WAITERS)]
    ids = {key: client.start_workflow("Waiter", 1, {"key": key}) for key in keys}

    def all_waiting() -> bool:
        return all(
            any(
                p.status == PointerStatus.WAITING_FOR_EVENT
                for p in client.get_workflow_instance(wid).execution_pointers
            )
            for wid in ids.values()
        )

    common.wait_until(all_waiting, "the waiters to park")
    published: dict[str, float] = {}
    for key in keys:
        published[ids[key]] = time.time()
        client.publish_event("go", key, None)
        if spacing:
            time.sleep(spacing)
    marks = _wait_done(common.WAITERS)
    return common.p50([(marks[wid] - at) * 1000 for wid, at in published.items()])


def main() -> None:
    from liteflow.cli.supervisor import cpu_count

    _redis.flushdb()
    processes = cpu_count()
    client = app()
    workers = _Workers(processes)
    try:
        common.wait_until(lambda: workers.ready >= processes or workers.process.poll() is not None, "the workers")
        if workers.process.poll() is not None:
            raise SystemExit("the workers exited:\n" + "\n".join(workers.tail))
        results = common.measure(lambda n: _chains(client, n), lambda spacing: _events(client, spacing))
    finally:
        workers.stop()
        for provider in (client.persistence, client.queue, client.lock):
            provider.close()
    results["processes"] = processes
    common.emit("liteflow_workers", results)


if __name__ == "__main__":
    main()
