"""Shards: how the Redis providers spread instances and events over hash slots.

Every instance (and every event) belongs to one of ``S`` shards, chosen from its id (CRC-32 of the id,
modulo ``S``). A shard's keys share the hash tag ``{<prefix><shard>}``, so they live in one hash slot:
a Lua script that touches an instance, its indexes and its subscriptions names keys of one slot, as a
Redis Cluster requires, while the ``S`` shards land on slots spread over the cluster's masters. Keys
that belong to no instance and that one script touches together (the schedules, a queue with its
sequence counter) get a hash tag of their own (:func:`tagged`).

On one server the same layout is used: a hash tag means nothing there, and a read across shards is one
pipeline (one round trip). ``S`` is fixed for a store: every host and tool using it must use the same.
"""

from __future__ import annotations

import zlib

#: Shards when none is asked for: enough slots to spread over a few masters, few enough that a read
#: across every shard (visibility, the runnable poller, an event's subscriptions) stays one short pipeline.
DEFAULT_SHARDS = 16

#: The most shards a store may have (each read across shards sends one command per shard).
MAX_SHARDS = 1024


def check_shards(shards: int) -> int:
    """``shards`` if it is a whole number from 1 to :data:`MAX_SHARDS`, else ValueError."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be a whole number from 1 to {MAX_SHARDS}, got {shards!r}")
    return shards


def tagged(prefix: str, name: str) -> str:
    """The key prefix ``<prefix>{<prefix><name>}``: keys made from it share a hash slot (unless ``prefix``
    holds a hash tag of its own, which then puts every key of the prefix in one slot)."""
    return f"{prefix}{{{prefix}{name}}}"


class Shards:
    """The shard of an id and the key prefix of each shard, below a provider's key ``prefix``."""

    def __init__(self, prefix: str, count: int = DEFAULT_SHARDS) -> None:
        self.count = check_shards(count)
        self.prefix = prefix
        #: the key prefix of each shard: ``<prefix>{<prefix><n>}``
        self.bases = tuple(tagged(prefix, str(n)) for n in range(self.count))

    def of(self, item_id: str) -> int:
        """The shard of an instance or event id (stable across processes and versions)."""
        return zlib.crc32(item_id.encode()) % self.count

    def base(self, item_id: str) -> str:
        """The key prefix of ``item_id``'s shard."""
        return self.bases[zlib.crc32(item_id.encode()) % self.count]
