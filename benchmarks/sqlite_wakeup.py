"""``python -m benchmarks.sqlite_wakeup``: what the SQLite queue's cross-process wake-up costs.

Two figures, each from a second process blocked in ``dequeue_work`` on a shared file:

* idle cost: the CPU time that process spends while its workers wait and nothing is queued, as a
  share of one core;
* wake latency: from this process calling ``queue_work`` (its commit included) to the other process
  holding the id, for ids queued at random moments.

``--polling`` measures the fallback used where UNIX sockets are missing (the waiting process polls
the queue's highest seq) instead of the doorbells.

Prints one JSON line. Bounded: a few seconds per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.measure import percentile

WAITER = """
import os, sys, threading, time
from liteflow.providers.sqlite import SqliteQueueProvider, doorbell
path, idle, count, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if sys.argv[5] == "polling":
    doorbell.available = lambda: False
queue = SqliteQueueProvider(path)
stop = time.monotonic() + idle
def wait_idle():
    while (left := stop - time.monotonic()) > 0:
        queue.dequeue_work("event", left)
idlers = [threading.Thread(target=wait_idle) for _ in range(threads)]
print("ready", flush=True)
cpu = time.process_time()
for t in idlers: t.start()
for t in idlers: t.join()
print(time.process_time() - cpu, flush=True)
for _ in range(count):
    item = queue.dequeue_work("workflow", 30.0)
    print(item, repr(time.time()), flush=True)
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sqlite_wakeup")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds the other process waits idle")
    parser.add_argument("--wakes", type=int, default=100, help="ids queued one at a time")
    parser.add_argument("--threads", type=int, default=4, help="worker threads waiting in the other process")
    parser.add_argument("--polling", action="store_true", help="the polling fallback instead of doorbells")
    args = parser.parse_args(argv)
    from liteflow.core.interfaces import QueueType
    from liteflow.providers.sqlite import SqliteQueueProvider

    directory = tempfile.mkdtemp(prefix="lfbench-wakeup-")
    path = os.path.join(directory, "queue.db")
    queue = SqliteQueueProvider(path)
    mode = "polling" if args.polling else "doorbell"
    command = [sys.executable, "-c", WAITER, path, str(args.idle), str(args.wakes), str(args.threads), mode]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        idle_cpu = float(proc.stdout.readline())
        latencies = []
        for i in range(args.wakes):
            time.sleep(random.uniform(0.01, 0.05))
            sent = time.time()
            queue.queue_work(f"w{i}", QueueType.WORKFLOW)
            item, woke = proc.stdout.readline().split()
            assert item == f"w{i}", item
            latencies.append(float(woke) - sent)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        queue.close()
        shutil.rmtree(directory, ignore_errors=True)
    print(
        json.dumps(
            {
                "mode": mode,
                "idle_cpu_share": round(idle_cpu / args.idle, 4),
                "idle_seconds": args.idle,
                "waiting_threads": args.threads,
                "wake_p50_ms": round(percentile(latencies, 50) * 1000, 2),
                "wake_p99_ms": round(percentile(latencies, 99) * 1000, 2),
                "wake_max_ms": round(max(latencies) * 1000, 2),
                "wakes": len(latencies),
            }
        )
    )


if __name__ == "__main__":
    main()
