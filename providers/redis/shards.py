"""Shards: how the Redis providers spread instances and events over hash slots.

Every instance (and every event) belongs to one of ``S`` shards, chosen from its id (CRC-32 of the id,
modulo ``S``). A shard's keys share one hash tag, so they live in one hash slot: a Lua script that
touches an instance, its indexes and its subscriptions names keys of one slot, as a Redis Cluster
requires. Shard n's tag is ``{<prefix>n.j}`` with the smallest ``j`` (0, 1, ...) whose slot (CRC-16 of
the tag, modulo 16384) falls in the n-th of ``S`` equal slot ranges, ``[n*16384/S, (n+1)*16384/S)``:
the shards spread evenly over the slots, so over the masters of a cluster whose slots are split evenly
(as ``redis-cli --cluster create`` does), and every host computes the same tags from the prefix and
``S`` alone. Keys that belong to no instance and that one script touches together (the schedules, a
queue with its sequence counter) get a hash tag of their own (:func:`tagged`).

A prefix may hold a whole hash tag of its own (``"{liteflow}:"``): then every key of the prefix is in
that one slot (one master). Any other ``{`` or ``}`` in a prefix is refused (:func:`check_prefix`): it
would silently put every shard in one slot, or split one shard's keys over several.

On one server the same layout is used: a hash tag means nothing there, and a read across shards is one
pipeline (one round trip). ``S`` is fixed for a store: every host and tool using it must use the same.
"""

from __future__ import annotations

import binascii
import zlib
from functools import lru_cache

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


#: Hash slots in a Redis Cluster.
SLOTS = 16384


def _own_hash_tag(prefix: str) -> bool:
    """True if ``prefix`` holds a hash tag (a ``{``, then a ``}`` with something between): it decides the
    slot of every key that starts with it."""
    start = prefix.find("{")
    return start >= 0 and prefix.find("}", start + 1) > start + 1


def check_prefix(prefix: str) -> str:
    """``prefix`` if it has no ``{`` or ``}``, or holds a whole hash tag of its own (``"{liteflow}:"``),
    else ValueError: a stray brace would put every shard in one slot, or one shard's keys in several."""
    if ("{" in prefix or "}" in prefix) and not _own_hash_tag(prefix):
        raise ValueError(
            f"a Redis key prefix may hold '{{' and '}}' only as a whole hash tag of its own (e.g. "
            f"'{{liteflow}}:', which puts every key in one slot), got {prefix!r}"
        )
    return prefix


def tagged(prefix: str, name: str) -> str:
    """The key prefix ``<prefix>{<prefix><name>}``: keys made from it share a hash slot (unless ``prefix``
    holds a hash tag of its own, which then puts every key of the prefix in one slot)."""
    return f"{check_prefix(prefix)}{{{prefix}{name}}}"


@lru_cache(maxsize=64)
def shard_tags(prefix: str, count: int) -> tuple[str, ...]:
    """The hash tag (without braces) of each of ``count`` shards: ``<prefix>n.j``, with the smallest ``j``
    whose slot is in the n-th of ``count`` equal slot ranges. It depends on nothing but its arguments,
    so every host computes the same. Under a prefix with a hash tag of its own every key is in that tag's
    slot anyway, and ``j`` is 0."""
    check_shards(count)
    return tuple(shard_tag(prefix, count, n) for n in range(count))


def shard_tag(prefix: str, count: int, n: int) -> str:
    """The hash tag of shard ``n`` of ``count`` (see :func:`shard_tags`)."""
    if _own_hash_tag(check_prefix(prefix)):
        return f"{prefix}{n}.0"
    low, high = n * SLOTS // count, (n + 1) * SLOTS // count
    j = 0
    while not low <= binascii.crc_hqx(f"{prefix}{n}.{j}".encode(), 0) % SLOTS < high:
        j += 1
    return f"{prefix}{n}.{j}"


class Shards:
    """The shard of an id and the key prefix of each shard, below a provider's key ``prefix``."""

    def __init__(self, prefix: str, count: int = DEFAULT_SHARDS) -> None:
        self.count = check_shards(count)
        self.prefix = prefix
        #: the key prefix of each shard: ``<prefix>{<prefix>n.j}`` (see :func:`shard_tags`)
        self.bases = tuple(f"{prefix}{{{tag}}}" for tag in shard_tags(prefix, self.count))

    def of(self, item_id: str) -> int:
        """The shard of an instance or event id (stable across processes and versions)."""
        return zlib.crc32(item_id.encode()) % self.count

    def base(self, item_id: str) -> str:
        """The key prefix of ``item_id``'s shard."""
        return self.bases[zlib.crc32(item_id.encode()) % self.count]
