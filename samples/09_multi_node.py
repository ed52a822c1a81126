"""Several worker processes sharing Redis: 20 workflows, the work spread over two nodes.

Needs a Redis server (LITEFLOW_REDIS_URL, default redis://127.0.0.1:6379/0); docker-compose.yml starts
one, with MongoDB and three worker nodes, for a cluster on one command.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "cluster"))


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def main() -> None:
    url = os.environ.setdefault("LITEFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_answers(url):
        print(f"this sample needs Redis at {url}: none answers, nothing to do")
        return
    prefix = os.environ.setdefault("LITEFLOW_PREFIX", f"liteflow-sample-{uuid.uuid4().hex[:8]}:")
    from app import cluster_host

    nodes = []
    for name in ("node-a", "node-b"):  # `liteflow worker` nodes: each logs worker.ready once it runs
        env = dict(os.environ, LITEFLOW_NODE=name)
        proc = subprocess.Popen(
            [sys.executable, "-m", "liteflow", "worker", "app:cluster_host", "--processes", "1"],
            cwd=os.path.join(HERE, "cluster"),
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if "worker.ready" in line:
                break
        print(f"{name}: ready")
        nodes.append(proc)
    client = cluster_host()  # never started: a client of the two nodes
    try:
        ids = [
            client.start_workflow("ParcelWorkflow", None, {"order": i, "parcels": [f"p{i}-{n}" for n in range(3)]})
            for i in range(20)
        ]
        work: collections.Counter[str] = collections.Counter()
        for workflow_id in ids:
            data = client.wait_for_workflow(workflow_id, timeout=30).data
            work.update(data["shipped_by"] + [data["delivered_by"]])
        print(f"20 workflows complete; steps run per node: {dict(work)}")
    finally:
        for proc in nodes:
            proc.send_signal(signal.SIGTERM)
        for proc in nodes:
            proc.communicate(timeout=15)  # its log is read to the end, so it never blocks writing it
        import redis

        r = redis.Redis.from_url(url)
        keys = list(r.scan_iter(match=prefix + "*"))
        if keys:
            r.delete(*keys)


if __name__ == "__main__":
    main()
