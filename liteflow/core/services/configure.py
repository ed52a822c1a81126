"""``configure_workflow_host``: a host with the given providers, memory ones by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

from liteflow.core.interfaces import LockProvider, PersistenceProvider, QueueProvider
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.services.host import WorkflowHost
from liteflow.core.services.options import parse_options
from liteflow.core.services.urls import resolve_providers

if TYPE_CHECKING:
    from redis import Redis
    from redis.cluster import RedisCluster

#: A redis-py client, one server or a cluster (the Redis providers are made on it).
RedisClient = Union["Redis", "RedisCluster"]


def configure_workflow_host(
    persistence: PersistenceProvider | str | RedisClient | None = None,
    queue: QueueProvider | str | RedisClient | None = None,
    lock: LockProvider | str | RedisClient | None = None,
    lifecycle_hub: LifecycleHub | None = None,
    prefix: str | None = None,
    **options: Any,
) -> WorkflowHost:
    """A new host. Every call gets fresh memory providers for what it is not given; an unknown option
    is a TypeError naming it. Options: see :class:`~liteflow.core.services.options.HostOptions`.

    ``persistence``, ``queue`` and ``lock`` may be URLs (``redis://``, ``rediss://``, ``mongodb://``,
    ``mongodb+srv://``, ``sqlite:///``, ``memory://``, ``redis+cluster://`` (a Redis Cluster by its seed
    nodes); see :mod:`liteflow.core.services.urls`) or ``redis.Redis`` / ``redis.cluster.RedisCluster``
    clients (the Redis providers on that client); ``prefix`` is the key prefix of every Redis provider
    made from a URL or a client."""
    from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

    parsed = parse_options(options)
    store, work, locks = resolve_providers(persistence, queue, lock, prefix)
    store = store if store is not None else MemoryPersistenceProvider()
    work = work if work is not None else MemoryQueueProvider()
    locks = locks if locks is not None else MemoryLockProvider()
    for name, value, protocol in (
        ("persistence", store, PersistenceProvider),
        ("queue", work, QueueProvider),
        ("lock", locks, LockProvider),
    ):
        if not isinstance(value, protocol):
            raise TypeError(f"{name}={type(value).__name__} does not implement {protocol.__name__}")
    return WorkflowHost(store, work, locks, parsed, lifecycle_hub)
