"""The four workloads on LiteFlow deployed as Celery is here: ``liteflow worker APP --processes N`` (one
worker process per CPU under one supervisor, as Celery's prefork pool) on Redis (database 11), and this
process a client that only starts workflows and publishes events, as Celery's side only sends tasks.

As on Celery's side, the last step of a workflow pushes ``[id, time.time()]`` onto a Redis list that this
process reads: a chain is 9 no-op steps and that one; a waiter parks on its event, then pushes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from benchmarks.peers import common, liteflow_side
from benchmarks.peers.liteflow_side import Noop
from benchmarks.processes import WorkerProcesses
from liteflow.core import (
    ExecutionResult,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    configure_workflow_host,
)

URL = liteflow_side.URL
DONE = "peers:done"
_redis = redis.Redis.from_url(URL)


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


def _chains(client: WorkflowHost, count: int) -> float:
    began = time.perf_counter()
    for i in range(count):
        client.start_workflow("Chain", 1, {"n": i})
    common.wait_done(_redis, DONE, count)
    return time.perf_counter() - began


def _events(client: WorkflowHost, spacing: float) -> float:
    published = liteflow_side.publish(client, liteflow_side.park_waiters(client), spacing, time.time)
    marks = common.wait_done(_redis, DONE, common.WAITERS)
    return common.p50([(marks[wid] - at) * 1000 for wid, at in published.items()])


def main() -> None:
    from liteflow.cli.supervisor import cpu_count

    _redis.flushdb()
    processes = cpu_count()
    client = app()
    workers = WorkerProcesses("benchmarks.peers.liteflow_workers_side:app", processes, {})
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
