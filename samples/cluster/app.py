"""The workflow and provider setup shared by the cluster worker and the multi-node sample."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from liteflow.core import (
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    configure_workflow_host,
)

NODE = os.environ.get("LITEFLOW_NODE", socket.gethostname())


class Ship(StepBody):
    def __init__(self) -> None:
        self.parcel: Any = None
        self.shipped_by = ""

    def run(self, context: StepExecutionContext) -> None:
        self.shipped_by = NODE


class Deliver(StepBody):
    def __init__(self) -> None:
        self.delivered_by = ""

    def run(self, context: StepExecutionContext) -> None:
        self.delivered_by = NODE


class ParcelWorkflow(Workflow):
    """Ship every parcel of an order (in parallel), wait a moment, deliver."""

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .for_each(lambda data, context: data["parcels"])
            .do(
                lambda b: (
                    b.start_with(Ship)
                    .input("parcel", lambda data, context: context.item)
                    .output(lambda step, data: data.setdefault("shipped_by", []).append(step.shipped_by))
                )
            )
            .delay(lambda data, context: timedelta(milliseconds=100))
            .then(Deliver)
            .output("delivered_by", lambda step: step.delivered_by)
        )


def cluster_host(**options: Any) -> WorkflowHost:
    """A host on Redis (queue, lock and, without LITEFLOW_MONGO_URL, persistence) and MongoDB if given."""
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    redis_url = os.environ.get("LITEFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = os.environ.get("LITEFLOW_PREFIX", "liteflow-sample:")
    mongo_url = os.environ.get("LITEFLOW_MONGO_URL")
    if mongo_url:
        from liteflow.providers.mongo import MongoPersistenceProvider

        persistence: Any = MongoPersistenceProvider(mongo_url, database="liteflow_cluster")
    else:
        persistence = RedisPersistenceProvider(redis_url, prefix=prefix)
    host = configure_workflow_host(
        persistence=persistence,
        queue=RedisQueueProvider(redis_url, prefix=prefix),
        lock=RedisLockProvider(redis_url, prefix=prefix, lease=10.0),
        **options,
    )
    host.register_workflow(ParcelWorkflow())
    return host
