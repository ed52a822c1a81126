"""The embedded default providers: everything in this process's memory, thread-safe."""

from liteflow.providers.memory.lock import LocalLockProvider, MemoryLockProvider
from liteflow.providers.memory.persistence import MemoryPersistenceProvider
from liteflow.providers.memory.queue import MemoryQueueProvider, SingleNodeQueueProvider

__all__ = [
    "LocalLockProvider",
    "MemoryLockProvider",
    "MemoryPersistenceProvider",
    "MemoryQueueProvider",
    "SingleNodeQueueProvider",
]
