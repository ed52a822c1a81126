"""Redis servers a test runs for itself, to crash or fail over without touching the shared ones: a
``redis-server`` on a free port (:class:`OwnRedis`, the ``own_redis`` fixture of ``conftest.py``) and a
Redis Cluster by ``scripts/redis-cluster.sh`` on ports of the test's choosing (:func:`started_cluster`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

CLUSTER_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "redis-cluster.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A ``redis-server`` on a free port with its files in ``directory``. Every write it acknowledges is on
    disk first (``--appendonly yes --appendfsync always``), so one started again after :meth:`crash` (a
    SIGKILL) still has what it answered for."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Starts the server; the moment it answers."""
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    client.close()
                    return time.monotonic()
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def crash(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def started_cluster(first_port: int, directory: Path) -> Iterator[str]:
    """A 3-master cluster with one replica each on ``first_port``.. (its files in ``directory``); its URL.
    Stopped afterwards."""
    env = dict(os.environ, REDIS_CLUSTER_PORT=str(first_port), REDIS_CLUSTER_DIR=str(directory))
    subprocess.run([str(CLUSTER_SCRIPT), "start"], env=env, check=True, capture_output=True, timeout=60)
    try:
        url = subprocess.run([str(CLUSTER_SCRIPT), "url"], env=env, check=True, capture_output=True, text=True).stdout
        yield url.strip()
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "stop"], env=env, check=False, capture_output=True, timeout=60)


def cluster_client(url: str) -> Any:
    """A ``RedisCluster`` client for ``url`` that gives up on a node away within a second or two."""
    from liteflow.providers.redis.connection import client_from_url

    return client_from_url(url, {"socket_connect_timeout": 1.0, "socket_timeout": 2.0})
