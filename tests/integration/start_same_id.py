"""Starts one workflow id from THREADS threads at the same wall-clock moment; prints what each got.

python start_same_id.py REDIS_URL PREFIX WORKFLOW_ID AT_EPOCH_SECONDS THREADS
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster_workflows import WORKFLOWS

from liteflow.core import WorkflowAlreadyExistsError, configure_workflow_host
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider


def main() -> None:
    url, prefix, workflow_id, at, threads = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=prefix),
        queue=RedisQueueProvider(url, prefix=prefix),
        lock=RedisLockProvider(url, prefix=prefix),
    )
    for workflow in WORKFLOWS:
        host.register_workflow(workflow())
    results: list[str] = []

    def start() -> None:
        time.sleep(max(0.0, at - time.time()))  # every thread of every process goes at once
        try:
            results.append("started:" + host.start_workflow("ScheduledWorkflow", workflow_id=workflow_id))
        except WorkflowAlreadyExistsError:
            results.append("exists")

    workers = [threading.Thread(target=start) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print("\n".join(results))


if __name__ == "__main__":
    main()
