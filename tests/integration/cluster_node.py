"""A LiteFlow worker node on Redis, for the multi-node tests: runs until SIGTERM.

Environment: LITEFLOW_REDIS_URL, LITEFLOW_PREFIX, LITEFLOW_NODE, LITEFLOW_LEASE and LITEFLOW_POLL
(seconds), LITEFLOW_NEW=1 (also register the definitions of a newer deploy).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster_workflows import NEW_WORKFLOWS, PREFIX, WORKFLOWS
from node_process import serve_until_sigterm

from liteflow.core import configure_workflow_host
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider


def main() -> None:
    url = os.environ["LITEFLOW_REDIS_URL"]
    lease = float(os.environ.get("LITEFLOW_LEASE", "2"))
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=PREFIX),
        queue=RedisQueueProvider(url, prefix=PREFIX),
        lock=RedisLockProvider(url, prefix=PREFIX, lease=lease),
        poll_interval=float(os.environ.get("LITEFLOW_POLL", "0.2")),
        max_concurrent_workflows=4,
    )
    for workflow in WORKFLOWS + (NEW_WORKFLOWS if os.environ.get("LITEFLOW_NEW") == "1" else []):
        host.register_workflow(workflow())
    serve_until_sigterm(host)


if __name__ == "__main__":
    main()
