"""The app the command-line tests point ``liteflow worker cli_app:host`` (and ``--app``) at.

Environment: LITEFLOW_TEST_URL (a Redis URL) and LITEFLOW_TEST_PREFIX (this test's key prefix), and
optionally LITEFLOW_TEST_LEASE. Every
step records that it ran in the Redis list ``<prefix>ran`` (``<workflow id>:<step name>``), so a test can
check that no step was lost or run twice.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from liteflow.core import (
    ErrorBehavior,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    configure_workflow_host,
)
from liteflow.providers.redis import RedisLockProvider

URL = os.environ["LITEFLOW_TEST_URL"]
PREFIX = os.environ["LITEFLOW_TEST_PREFIX"]
_client = redis.Redis.from_url(URL)


def record(context: StepExecutionContext, name: str) -> None:
    _client.rpush(PREFIX + "ran", f"{context.workflow.id}:{name}")


class Hello(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        record(context, "hello")


class Goodbye(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        record(context, "goodbye")


class Greet(Workflow):
    """Hello, wait for the event ("go", data["key"]), goodbye."""

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(Hello)
            .name("hello")
            .wait_for("go", lambda data, context: data["key"])
            .name("wait for go")
            .output(lambda step, data: data.__setitem__("got", step.event_data))
            .then(Goodbye)
            .name("goodbye")
        )


class Nap(StepBody):
    def __init__(self) -> None:
        self.seconds = 0.0
        self.label = ""

    def run(self, context: StepExecutionContext) -> None:
        time.sleep(self.seconds)  # a step doing slow work (the worker must let it finish on SIGTERM)
        record(context, self.label)


class Slow(Workflow):
    """Three steps of data["seconds"] each."""

    def build(self, builder: WorkflowBuilder) -> None:
        step: Any = builder
        for i in range(3):
            add = step.start_with if i == 0 else step.then
            step = (
                add(Nap)
                .name(f"nap {i}")
                .input("seconds", lambda data, context: data["seconds"])
                .input("label", lambda data, context, i=i: f"nap{i}")
            )


class Broken(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        record(context, "broken")
        raise KeyError("x")


class Fails(Workflow):
    """A step raising KeyError('x'); the workflow is suspended."""

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Hello).name("hello").then(Broken).name("broken").on_error(ErrorBehavior.SUSPEND)


class Mark(StepBody):
    def __init__(self) -> None:
        self.label = ""

    def run(self, context: StepExecutionContext) -> None:
        record(context, self.label)


CHAIN_STEPS = 5


class Chain(Workflow):
    """CHAIN_STEPS steps named c0, c1, ... each recording that it ran."""

    def build(self, builder: WorkflowBuilder) -> None:
        step: Any = builder
        for i in range(CHAIN_STEPS):
            add = step.start_with if i == 0 else step.then
            step = add(Mark).name(f"c{i}").input("label", lambda data, context, i=i: f"c{i}")


#: LITEFLOW_TEST_LEASE: the lock lease in seconds (a test killing a worker sets it short, so what the dead
#: worker held is taken over soon).
LEASE = float(os.environ.get("LITEFLOW_TEST_LEASE", "30"))
host = configure_workflow_host(
    persistence=URL, lock=RedisLockProvider(URL, prefix=PREFIX, lease=LEASE), prefix=PREFIX, poll_interval=0.2
)
for workflow in (Greet, Slow, Fails, Chain):
    host.register_workflow(workflow())
