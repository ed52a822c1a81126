"""Workflows shared by the multi-node tests and the worker nodes they start.

Every step records its execution in Redis (``<prefix>ran:<workflow>:<tag>:<item>`` counters and a
per-node tally), so the test can check that every step of every workflow ran exactly once. The counters
are on LITEFLOW_COUNTER_URL (a plain Redis server; default LITEFLOW_REDIS_URL), so that nodes running
on a Redis Cluster keep their bookkeeping apart from what is under test.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder

PREFIX = os.environ.get("LITEFLOW_PREFIX", "lftest:")
NODE = os.environ.get("LITEFLOW_NODE", "client")
_client: redis.Redis | None = None


def counters() -> redis.Redis:
    global _client
    if _client is None:
        url = os.environ.get("LITEFLOW_COUNTER_URL") or os.environ.get("LITEFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
        _client = redis.Redis.from_url(url)
    return _client


def ran_key(workflow_id: str, tag: str, item: Any, prefix: str = PREFIX) -> str:
    return f"{prefix}ran:{workflow_id}:{tag}:{item}"


class Record(StepBody):
    def __init__(self) -> None:
        self.tag = ""

    def run(self, context: StepExecutionContext) -> None:
        client = counters()
        client.incr(ran_key(context.workflow.id, self.tag, context.item))
        client.hincrby(f"{PREFIX}nodes", NODE, 1)


class SlowOnce(StepBody):
    """Blocks for a minute the first time it runs for a workflow (the node gets killed meanwhile)."""

    def run(self, context: StepExecutionContext) -> None:
        client = counters()
        client.incr(ran_key(context.workflow.id, "slow", None))
        if client.incr(f"{PREFIX}slow-attempts:{context.workflow.id}") == 1:
            client.set(f"{PREFIX}slow-node", NODE)
            time.sleep(60)


def record(tag: str) -> Any:
    return lambda data, context: tag


class ClusterWorkflow(Workflow):
    """chain, for_each, wait_for an event, chain."""

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Record)
            .input("tag", record("a"))
            .then(Record)
            .input("tag", record("b"))
            .for_each(lambda data, context: [1, 2, 3])
            .do(lambda b: b.start_with(Record).input("tag", record("c")))
            .wait_for("go", lambda data, context: data["key"], lambda data, context: context.workflow.create_time)
            .output("received", lambda step: step.event_data)
            .then(Record)
            .input("tag", record("d"))
        )


#: (tag, item) of every step a ClusterWorkflow instance runs.
CLUSTER_STEPS = [("a", None), ("b", None), ("c", 1), ("c", 2), ("c", 3), ("d", None)]


class KillWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Record)
            .input("tag", record("before"))
            .then(SlowOnce)
            .then(Record)
            .input("tag", record("after"))
        )


class ScheduledWorkflow(Workflow):
    """One recorded step: what a schedule starts in the multi-node schedule tests."""

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Record).input("tag", lambda data, context: "scheduled")


class CountRunning(StepBody):
    """Records how many steps of its key run at once (``<prefix>running`` and ``<prefix>seen`` in Redis)."""

    def run(self, context: StepExecutionContext) -> None:
        client = counters()
        now = client.incr(f"{PREFIX}running")
        client.rpush(f"{PREFIX}seen", now)
        time.sleep(0.05)  # the step's own work
        client.decr(f"{PREFIX}running")
        client.incr(ran_key(context.workflow.id, "limited", None))


class LimitedWorkflow(Workflow):
    """Two steps; at most two instances per customer run at once, across every host."""

    concurrency_key = staticmethod(lambda data: data["customer"])
    max_concurrency = 2

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(CountRunning).then(CountRunning)


class Rolling(Workflow):
    """Version 1 is on every node; version 2 only on the nodes started with LITEFLOW_NEW=1."""

    def id(self) -> str:
        return "Rolling"

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Record).input("tag", record("rolling"))


class RollingV2(Rolling):
    def version(self) -> int:
        return 2


WORKFLOWS = [ClusterWorkflow, KillWorkflow, ScheduledWorkflow, LimitedWorkflow, Rolling]
NEW_WORKFLOWS = [RollingV2]
