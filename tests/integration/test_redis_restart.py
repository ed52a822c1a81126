"""A Redis restart in the middle of a run: no step runs twice, and work resumes at once.

The test runs a ``redis-server`` of its own on a free port, with ``--appendonly yes --appendfsync always``
in a temporary directory, and kills it (SIGKILL, a crash) in the middle of a run, then starts it again on
the same files. Every write it acknowledged was on disk first, so what the hosts were told is stored is
stored (a restart without persistence would lose the instances themselves: no engine could help that;
``SHUTDOWN`` would flush on its way out and so hide a write acknowledged but not yet on disk). Three
worker processes run the workflows; every step counts its runs in the test's usual Redis, which stays up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from node_process import launch, ready, stop_nodes
from own_redis import OwnRedis
from waiting import wait_until

from liteflow.core import WorkflowStatus, configure_workflow_host
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = [pytest.mark.redis, pytest.mark.slow]
NODE_SCRIPT = Path(__file__).with_name("restart_node.py")
WORKFLOWS = 400
STEPS = ("a", "b", "c")
PREFIX = "lfrestart:"


def start_workers(
    server: OwnRedis, record_url: str, record_prefix: str, count: int, logs: Path
) -> list[subprocess.Popen[str]]:
    env = dict(
        os.environ,
        LITEFLOW_REDIS_URL=server.url,
        LITEFLOW_PREFIX=PREFIX,
        LITEFLOW_RECORD_URL=record_url,
        LITEFLOW_RECORD_PREFIX=record_prefix,
    )
    # every worker's warnings while the server is away go to a log of its own
    workers = [launch(NODE_SCRIPT, env=env, stderr=(logs / f"worker-{i}.log").open("w")) for i in range(count)]
    for i, worker in enumerate(workers):
        ready(worker, f"worker {i}")
    return workers


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.005) -> float:
    """:func:`waiting.wait_until` (every ``step`` seconds), returning the moment ``condition()`` was true."""
    wait_until(condition, timeout, interval=step)
    return time.monotonic()


def test_a_redis_restart_mid_run_runs_no_step_twice_and_work_resumes_within_2_s(
    own_redis: OwnRedis, redis_url: str, redis_cleanup: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    record = redis.Redis.from_url(redis_url)
    ran = lambda: int(record.get(f"{redis_cleanup}ran") or 0)  # noqa: E731
    workers = start_workers(own_redis, redis_url, redis_cleanup, 3, tmp_path)
    client = configure_workflow_host(
        persistence=RedisPersistenceProvider(own_redis.url, prefix=PREFIX),
        queue=RedisQueueProvider(own_redis.url, prefix=PREFIX),
        lock=RedisLockProvider(own_redis.url, prefix=PREFIX),
    )
    sys.path.insert(0, str(NODE_SCRIPT.parent))
    from restart_node import RecordedWorkflow

    client.register_workflow(RecordedWorkflow())
    try:
        ids = [client.start_workflow("Recorded") for _ in range(WORKFLOWS)]
        wait_for(lambda: ran() >= WORKFLOWS * len(STEPS) // 4, timeout=20)
        own_redis.crash()  # in the middle of the run: steps in flight, passes about to be stored
        time.sleep(1.0)
        before = ran()
        back = own_redis.start()
        resumed = wait_for(lambda: ran() > before + 3, timeout=20)  # a few more steps, not a stray in-flight one
        assert ran() < WORKFLOWS * len(STEPS), "the run ended before the restart: make it longer"

        persistence = RedisPersistenceProvider(own_redis.url, prefix=PREFIX)
        try:
            finished = wait_for(
                lambda: all(i.status is WorkflowStatus.COMPLETE for i in persistence.get_workflow_instances(ids)),
                timeout=max(5.0, 55 - (time.monotonic() - began)),
                step=0.2,
            )
        finally:
            persistence.close()
    finally:
        stop_nodes(workers, timeout=20)
        client.close()
    pipe = record.pipeline(transaction=False)
    for wid in ids:
        for name in STEPS:
            pipe.get(f"{redis_cleanup}ran:{wid}:{name}")
    counts = [int(value or 0) for value in pipe.execute()]
    record.close()
    duplicates = sum(count - 1 for count in counts if count > 1)
    missing = sum(1 for count in counts if count == 0)
    print(
        f"redis restart: {duplicates} duplicate step runs, {missing} missing; steps ran again {resumed - back:.2f} s"
        f" and every workflow was complete {finished - back:.1f} s after the server answered"
    )
    logs = "".join(log.read_text() for log in tmp_path.glob("worker-*.log"))
    assert "store.unreachable" in logs  # passes were being stored when the server went: they waited for it
    assert (duplicates, missing) == (0, 0)
    assert resumed - back < 2.0
    assert finished - back < 20  # no lock left to run out its 30 s lease
