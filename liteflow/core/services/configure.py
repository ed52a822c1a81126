"""``configure_workflow_host``: a host with the given providers, memory ones by default."""

from __future__ import annotations

from typing import Any

from liteflow.core.interfaces import LockProvider, PersistenceProvider, QueueProvider
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.services.host import WorkflowHost
from liteflow.core.services.options import parse_options


def configure_workflow_host(
    persistence: PersistenceProvider | None = None,
    queue: QueueProvider | None = None,
    lock: LockProvider | None = None,
    lifecycle_hub: LifecycleHub | None = None,
    **options: Any,
) -> WorkflowHost:
    """A new host. Every call gets fresh memory providers for what it is not given; an unknown option
    is a TypeError naming it. Options: see :class:`~liteflow.core.services.options.HostOptions`."""
    from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

    parsed = parse_options(options)
    persistence = persistence if persistence is not None else MemoryPersistenceProvider()
    queue = queue if queue is not None else MemoryQueueProvider()
    lock = lock if lock is not None else MemoryLockProvider()
    for name, value, protocol in (
        ("persistence", persistence, PersistenceProvider),
        ("queue", queue, QueueProvider),
        ("lock", lock, LockProvider),
    ):
        if not isinstance(value, protocol):
            raise TypeError(f"{name}={type(value).__name__} does not implement {protocol.__name__}")
    return WorkflowHost(persistence, queue, lock, parsed, lifecycle_hub)
