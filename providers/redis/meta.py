"""What a Redis provider checks of the store (the keys under its prefix) when it is made.

* **The shard count**: ``<prefix>meta:shards`` (a string) holds the number of shards the store's
  instances and events are spread over (see :mod:`liteflow.providers.redis.shards`). The first
  persistence provider to open a store sets it (``SET NX``); one opened later with another count is
  refused (ValueError naming both): it would read and write other shards than the store's. Only the
  persistence provider's keys depend on the count (the queues and locks are not sharded), so only it
  sets and checks the key.
* **The layout before shards**: a store written by a LiteFlow from before the sharded layout keeps its
  keys without a shard's hash tag (``<prefix>idx:status:<Status>``, ``<prefix>event``,
  ``<prefix>queue:seq``, ...), which this version does not read: it would look empty. A provider that
  finds any of the few such keys its store would have is refused (ValueError pointing to the README's
  upgrade note), and writes nothing.

The check is one pipeline when the provider is made (``TYPE`` of each old key and ``GET`` of the count;
on a cluster, one per master involved: each key is routed to its own slot's master, the old keys having
no hash tag), nothing afterwards. Only a store whose count is not recorded yet takes one more: ``SET
NX`` and ``GET`` of the count.
A server that does not answer within
:data:`OPEN_TIMEOUT` then (an outage, a server not yet up) does not fail the constructor: the check is
made by the provider's ping instead, which ``host.start()`` sends (a host never started, only used as
a client, does not make it then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.exceptions import RedisClusterException

from liteflow.core.log import logger

from .connection import RedisConnection, provider_errors, text

log = logger("redis")

#: The key, below the prefix, that holds the store's shard count.
SHARDS_KEY = "meta:shards"

#: How long the check made with the provider waits for the server (to connect, and to answer), in seconds.
OPEN_TIMEOUT = 2.0

#: Keys of the layout before shards, below the prefix, with their types, of which a store of it holding
#: anything the persistence provider wrote has at least one: every stored instance is in one status
#: index, every stored event in the event hash, every schedule in the schedule hash. (A key of that name
#: but of another type is not taken for one: under a short prefix, another program's key could be.)
PERSISTENCE_BEFORE_SHARDS = {
    "idx:status:Runnable": "zset",
    "idx:status:Suspended": "zset",
    "idx:status:Complete": "zset",
    "idx:status:Terminated": "zset",
    "event": "hash",
    "schedule": "hash",
}

#: The queues' sequence counter of the layout before shards: set by the first id ever queued, never deleted.
QUEUE_BEFORE_SHARDS = {"queue:seq": "string"}

#: Where the README tells an existing install what to do.
UPGRADE_NOTE = 'README.md, "Redis Cluster", "An existing install"'


def _answered(replies: Sequence[Any]) -> list[Any]:
    """``replies`` of a probe, an error reply raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return list(replies)


def _stored_count(key: str, value: Any) -> int:
    try:
        count = int(text(value))
    except ValueError:
        raise ValueError(f"the Redis key {key} holds {text(value)!r}, not a shard count") from None
    return count


class StoreCheck:
    """One provider's check of its store: ``shards`` (None: the provider does not depend on it) and the
    keys of the layout before shards its store would have (names below the prefix, and their types)."""

    def __init__(self, conn: RedisConnection, shards: int | None, before_shards: Mapping[str, str]) -> None:
        self._conn = conn
        self._shards = shards
        self._old = tuple((conn.key(name), kind) for name, kind in before_shards.items())
        self._key = conn.key(SHARDS_KEY)
        #: True once the store has been checked
        self.done = False

    def at_open(self) -> None:
        """The check made with the provider: ValueError if the store is not one it may use; a server that
        does not answer within :data:`OPEN_TIMEOUT` leaves it to :meth:`ensure`."""
        try:
            self._run(OPEN_TIMEOUT)
        except (redis.RedisError, RedisClusterException, OSError) as exc:  # reported by the ping, if still away
            log.debug(
                "redis.store_check_deferred",
                store=self._conn.describe(),
                prefix=self._conn.prefix,
                error=str(exc),
                error_type=type(exc).__name__,
            )

    def ensure(self, timeout: float) -> None:
        """The check, if not made yet (a provider's ping): ValueError as when made, ProviderError if the
        server does not answer."""
        if not self.done:
            with provider_errors("store check"):
                self._run(timeout)

    def _run(self, timeout: float) -> None:
        commands: list[tuple[Any, ...]] = [("TYPE", key) for key, _ in self._old]
        if self._shards is not None:
            commands.append(("GET", self._key))
        replies = _answered(self._conn.probe(commands, timeout))
        found = [key for (key, kind), reply in zip(self._old, replies, strict=False) if text(reply) == kind]
        if found:
            raise ValueError(self._old_layout(found))
        if self._shards is not None:
            stored = replies[-1]
            if stored is None:  # not recorded yet: a new store, or one made before the count was recorded
                stored = self._record(timeout)
            if stored is not None and _stored_count(self._key, stored) != self._shards:
                raise ValueError(self._mismatch(_stored_count(self._key, stored)))
        self.done = True

    def _record(self, timeout: float) -> Any:
        """Record the count (``SET NX``); the count recorded (this one, or one another host recorded
        meanwhile). A store made by the version before this record, with another count, is not told
        apart from a new one here (see the README)."""
        assert self._shards is not None
        return _answered(self._conn.probe([("SET", self._key, self._shards, "NX"), ("GET", self._key)], timeout))[-1]

    def _where(self) -> str:
        return f"the Redis store at {self._conn.describe()} under the prefix {self._conn.prefix!r}"

    def _mismatch(self, stored: int) -> str:
        return (
            f"{self._where()} was made with {stored} shards ({self._key} = {stored}), but this provider was "
            f"opened with {self._shards}: every host and tool of a store must use the same shard count, or "
            f"they read and write other shards than the store's. Open it with shards={stored} (the shards "
            f"URL option, ?shards={stored}, or the shards argument); a store's shard count cannot be changed "
            f"in place: for {self._shards} shards use a new prefix"
        )

    def _old_layout(self, found: Sequence[str]) -> str:
        return (
            f"{self._where()} holds keys of LiteFlow's previous layout, from before the sharded one "
            f"({', '.join(found)}), which this version does not read (it would look empty). Drain it with "
            f"the version that wrote it and delete its keys, or run this version under a new prefix; there "
            f"is no automatic migration (see {UPGRADE_NOTE})"
        )


def check_store(conn: RedisConnection, shards: int | None, before_shards: Mapping[str, str]) -> StoreCheck:
    """A provider's store check, made now (:meth:`StoreCheck.at_open`); ValueError if the store is not one
    the provider may use."""
    check = StoreCheck(conn, shards, before_shards)
    check.at_open()
    return check
