"""The four workloads on Celery with Redis (database 12): a worker process with its default prefork
pool (one child per CPU), chains of tasks, and each "event" a task enqueued when it is published."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import redis
from celery import Celery, chain

from benchmarks.peers import common

URL = "redis://127.0.0.1:6379/12"
DONE = "peers:done"
app = Celery("peers", broker=URL)
app.conf.task_ignore_result = True
app.conf.worker_hijack_root_logger = False
_redis = redis.Redis.from_url(URL)


@app.task(name="peers.noop")
def noop(n: int, j: int) -> None:
    return None


@app.task(name="peers.finish")
def finish(n: str) -> None:
    _redis.rpush(DONE, json.dumps([n, time.time()]))


def _wait_done(count: int) -> dict[str, float]:
    return common.wait_done(_redis, DONE, count)


def _chains(count: int) -> float:
    began = time.perf_counter()
    for i in range(count):
        steps = [noop.si(i, j) for j in range(common.CHAIN_STEPS - 1)]
        chain(*steps, finish.si(str(i))).apply_async()
    _wait_done(count)
    return time.perf_counter() - began


def _events(spacing: float) -> float:
    published: dict[str, float] = {}
    for i in range(common.WAITERS):
        published[str(i)] = time.time()
        finish.apply_async((str(i),))
        if spacing:
            time.sleep(spacing)
    marks = _wait_done(common.WAITERS)
    return common.p50([(marks[n] - at) * 1000 for n, at in published.items()])


def main() -> None:
    _redis.flushdb()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "benchmarks.peers.celery_side:app", "worker", "--loglevel=WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        results = common.measure(_chains, _events)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    common.emit("celery", results)


if __name__ == "__main__":
    main()
