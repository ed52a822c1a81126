"""Hosts for a benchmark case: memory providers, Redis providers, Redis with a second host process, or
the SQLite providers (a new file in a temporary directory per case, deleted afterwards).

Every Redis case gets a key prefix of its own (``lfbench:<run>:<case>:``); its keys, and only those,
are deleted afterwards (SCAN + DEL; nothing here ever flushes a database).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import uuid
from types import TracebackType
from typing import Any

from benchmarks.measure import Completions
from benchmarks.nodes import NodeProcess, close_providers
from benchmarks.workflows import register_all
from liteflow.core import WorkflowHost, configure_workflow_host

MEMORY, REDIS, REDIS_2P, SQLITE = "memory", "redis", "redis-2p", "sqlite"
CONFIGS = (MEMORY, REDIS, REDIS_2P, SQLITE)
KEY_ROOT = "lfbench:"


def redis_host(url: str, prefix: str, **options: Any) -> WorkflowHost:
    """A host on the three Redis providers, every key under ``prefix``."""
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    return configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=prefix),
        queue=RedisQueueProvider(url, prefix=prefix),
        lock=RedisLockProvider(url, prefix=prefix),
        **options,
    )


def sqlite_host(path: str, **options: Any) -> WorkflowHost:
    """A host on the three SQLite providers, on the file at ``path``."""
    from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

    return configure_workflow_host(
        persistence=SqlitePersistenceProvider(path),
        queue=SqliteQueueProvider(path),
        lock=SqliteLockProvider(path),
        **options,
    )


def redis_answers(url: str) -> str | None:
    """None if a Redis server answers PING at ``url``; else why not."""
    try:
        import redis  # noqa: F401 (is the driver installed?)
    except ImportError:
        return "the redis package is not installed (pip install 'liteflow-workflows[redis]')"
    from liteflow.providers.redis.connection import client_from_url

    try:
        client = client_from_url(url, {"socket_connect_timeout": 1, "socket_timeout": 2})
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"no Redis server answers at {url} ({type(exc).__name__}: {exc})"
    return None


def delete_keys(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix`` (and nothing else; on a cluster, on every master); how
    many there were."""
    from redis.cluster import RedisCluster

    from liteflow.providers.redis.connection import client_from_url

    client = client_from_url(url, {"socket_connect_timeout": 2})
    deleted = 0
    try:
        servers: list[Any] = [client]
        if isinstance(client, RedisCluster):
            servers = [client.get_redis_connection(node) for node in client.get_primaries()]
        for server in servers:
            batch: list[bytes] = []
            for key in server.scan_iter(match=prefix + "*", count=1000):
                batch.append(key)
                if len(batch) >= 100:
                    deleted += _delete(server, batch)
                    batch = []
            if batch:
                deleted += _delete(server, batch)
    finally:
        client.close()
    return deleted


def _delete(server: Any, keys: list[bytes]) -> int:
    """DEL ``keys`` (one command per key in a pipeline: on a cluster node, keys of several slots)."""
    pipe = server.pipeline(transaction=False)
    for key in keys:
        pipe.delete(key)
    return sum(int(n) for n in pipe.execute())


class Run:
    """What every case of one benchmark run shares: the Redis URL and a run id for key prefixes."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._cases = itertools.count(1)

    @property
    def prefix(self) -> str:
        return f"{KEY_ROOT}{self.id}:"

    def next_prefix(self) -> str:
        return f"{self.prefix}{next(self._cases)}:"

    def cleanup(self) -> None:
        """Delete whatever any case of this run left behind (only this run's keys)."""
        with contextlib.suppress(Exception):  # Redis may be away: nothing of ours is there then
            delete_keys(self.redis_url, self.prefix)


class Rig:
    """A started host (and, for redis-2p, a second host process) plus the completion tracker.

    ``with Rig(run, config) as rig: rig.host.start_workflow(...); rig.completions.wait_count(...)``

    With ``started=False`` the hosts are ready but idle (this one a client, the second process paused)
    until :meth:`go` starts them all.
    """

    def __init__(self, run: Run | None, config: str, started: bool = True) -> None:
        if config not in CONFIGS:
            raise ValueError(f"unknown configuration {config!r}")
        if run is None and config not in (MEMORY, SQLITE):
            raise ValueError(f"{config} needs a Run (a Redis URL)")
        self.run = run
        self.config = config
        self.completions = Completions()
        self.prefix: str | None = None
        self.node: NodeProcess | None = None
        self.directory: str | None = None
        self.started = started
        self.host: WorkflowHost

    @property
    def hosts(self) -> int:
        return 2 if self.config == REDIS_2P else 1

    def __enter__(self) -> Rig:
        if self.config == MEMORY:
            self.host = configure_workflow_host()
        elif self.config == SQLITE:
            self.directory = tempfile.mkdtemp(prefix="lfbench-")
            self.host = sqlite_host(os.path.join(self.directory, "liteflow.db"))
        else:
            assert self.run is not None
            self.prefix = self.run.next_prefix()
            self.host = redis_host(self.run.redis_url, self.prefix)
        register_all(self.host)
        self.completions.listen(self.host)
        try:
            if self.config == REDIS_2P:
                assert self.run is not None and self.prefix is not None
                self.node = NodeProcess(self.run.redis_url, self.prefix, self.completions.add, paused=not self.started)
            if self.started:
                self.host.start()
        except BaseException:
            self._close()
            raise
        return self

    def go(self) -> None:
        """Start the hosts of a rig made with ``started=False`` (the second process's first)."""
        if self.node is not None:
            self.node.go()
        self.host.start()
        self.started = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def _close(self) -> None:
        try:
            if self.node is not None:
                self.node.stop()
        finally:
            self.host.close()
            close_providers(self.host)
            if self.run is not None and self.prefix is not None:
                with contextlib.suppress(Exception):
                    delete_keys(self.run.redis_url, self.prefix)
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
