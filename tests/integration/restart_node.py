"""A worker process for the Redis restart test: runs ``Recorded`` workflows until SIGTERM.

Every step counts its runs in a second Redis server (one that is not restarted): INCR of
``<record prefix>ran:<workflow id>:<step>`` and of ``<record prefix>ran``.

Environment: LITEFLOW_REDIS_URL (the server that is restarted), LITEFLOW_PREFIX, LITEFLOW_RECORD_URL,
LITEFLOW_RECORD_PREFIX.
"""

from __future__ import annotations

import os
import time

import redis
from node_process import serve_until_sigterm

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder, configure_workflow_host
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

STEPS = ("a", "b", "c")
RECORD = redis.Redis.from_url(os.environ.get("LITEFLOW_RECORD_URL", "redis://127.0.0.1:6379/0"))
RECORD_PREFIX = os.environ.get("LITEFLOW_RECORD_PREFIX", "")


class Recorded(StepBody):
    def __init__(self) -> None:
        self.name = ""

    def run(self, context: StepExecutionContext) -> None:
        time.sleep(0.02)  # some work: steps are in flight when the server goes away
        pipe = RECORD.pipeline(transaction=False)
        pipe.incr(f"{RECORD_PREFIX}ran:{context.workflow.id}:{self.name}")
        pipe.incr(f"{RECORD_PREFIX}ran")
        pipe.execute()


def constant(value: str) -> object:
    return lambda data, context: value


class RecordedWorkflow(Workflow):
    def id(self) -> str:
        return "Recorded"

    def build(self, builder: WorkflowBuilder) -> None:
        step = builder.start_with(Recorded).input("name", constant(STEPS[0]))
        for name in STEPS[1:]:
            step = step.then(Recorded).input("name", constant(name))


def main() -> None:
    url, prefix = os.environ["LITEFLOW_REDIS_URL"], os.environ["LITEFLOW_PREFIX"]
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=prefix),
        queue=RedisQueueProvider(url, prefix=prefix),
        lock=RedisLockProvider(url, prefix=prefix),  # the default 30 s lease
        poll_interval=0.5,
    )
    host.register_workflow(RecordedWorkflow())
    serve_until_sigterm(host)


if __name__ == "__main__":
    main()
