"""A worker process for the template tests: Redis providers and a Redis lifecycle hub; runs until SIGTERM.

Environment: LITEFLOW_REDIS_URL, LITEFLOW_PREFIX, LITEFLOW_LEASE (seconds, default 30). Its ``listen`` task
returns the first three items dispatched to the topics ``feed`` and ``more``, with the id of its process.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from node_process import serve_until_sigterm
from template_tasks import LISTENER, registry

from liteflow.core import WorkflowTemplate, configure_workflow_host
from liteflow.providers.redis import RedisLifecycleHub, RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider


def main() -> None:
    url, prefix = os.environ["LITEFLOW_REDIS_URL"], os.environ["LITEFLOW_PREFIX"]
    providers: list[Any] = [
        RedisPersistenceProvider(url, prefix=prefix),
        RedisQueueProvider(url, prefix=prefix),
        RedisLockProvider(url, prefix=prefix, lease=float(os.environ.get("LITEFLOW_LEASE", "30"))),
    ]
    host = configure_workflow_host(*providers, lifecycle_hub=RedisLifecycleHub(url, prefix=prefix), poll_interval=0.2)
    host.load(WorkflowTemplate.from_dict(LISTENER, registry=registry()))
    serve_until_sigterm(host, close=True)


if __name__ == "__main__":
    main()
