"""Redis work queues: FIFO, without duplicates, with a blocking dequeue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from liteflow.core.interfaces import QueueType
from liteflow.core.log import logger

from . import scripts
from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors, text
from .meta import QUEUE_BEFORE_SHARDS, check_store
from .shards import tagged

log = logger("redis")

#: Ids per script call of ``queue_work_many`` (well within Lua's stack and a short time on the server).
_BATCH = 1000


class RedisQueueProvider(ConnectionHealth):
    """One queue per :class:`QueueType`, shared by every host on the server (or the cluster).

    Guarantees:

    * FIFO across hosts, and an id already queued is never queued twice: each queue is a sorted set
      scored by a server-side sequence number, and ``queue_work`` adds an id only if it is not there
      (one Lua script, atomic). Popping removes the id from the queue in the same command, so an id
      can never be stuck "marked queued" without being in the queue (as it could with a list and a set
      beside it, if a process died between popping one and cleaning the other);
    * ``dequeue_work`` blocks on the server (BZPOPMIN) for up to ``timeout`` seconds and wakes the
      moment an id is queued by anyone; it never polls or sleeps. ``timeout <= 0`` does not block.
      A client passed in keeps its own socket timeout, so its blocks are capped just below it (it
      returns None sooner); a URL gets a second connection pool without a socket timeout for blocks;
    * each queue and its sequence counter share a hash tag of their own (``P{Pqueue:<type>}``): one
      slot per queue type on a cluster. A queue is one sorted set, not one per shard: FIFO across hosts
      and "never queued twice" need one order, and a pop from it is one blocking command on one key
      (per-shard queues would need a doorbell list beside them, the same single key again, plus two
      commands per item). The queue's commands are O(log n) and small; the documents and scripts,
      the bulk of the work, spread by shard (see the persistence provider);
    * ``queue_work_many`` (:class:`~liteflow.core.interfaces.BatchQueueProvider`) queues a thousand ids
      per script call, skipping those already queued on the server;
    * a store holding the queues of the layout before shards (``<prefix>queue:seq``) is refused when the
      provider is made (ValueError; see :mod:`liteflow.providers.redis.meta`): its ids would be left
      behind unread;
    * an id popped by a process that then dies is lost from the queue, not from the workflow: the
      host's runnable poller finds runnable instances and unprocessed events in persistence and queues
      them again.
    """

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:") -> None:
        self._conn = RedisConnection(url_or_client, prefix)
        try:
            self._keys = {queue: tagged(prefix, "queue:" + queue.value) for queue in QueueType}
            self._store_check = check_store(self._conn, None, QUEUE_BEFORE_SHARDS)
        except ValueError:
            self._conn.close()
            raise
        self._sequences = {queue: key + "seq" for queue, key in self._keys.items()}
        self._push = self._conn.script(scripts.QUEUE_PUSH)
        #: the server has BZMPOP (Redis 7): ``dequeue_many`` is one round trip
        self._bzmpop = True

    def queue_work(self, item_id: str, queue: QueueType) -> None:
        queue = QueueType(queue)
        with provider_errors("queue_work"):
            self._conn.run_script(self._push, [self._keys[queue], self._sequences[queue]], [item_id])

    def queue_work_many(self, item_ids: Sequence[str], queue: QueueType) -> int:
        """Queue each id not already queued, in order, one script call per thousand ids; how many were added."""
        queue = QueueType(queue)
        keys = [self._keys[queue], self._sequences[queue]]
        added = 0
        with provider_errors("queue_work_many"):
            for start in range(0, len(item_ids), _BATCH):
                added += int(self._conn.run_script(self._push, keys, list(item_ids[start : start + _BATCH])))
        return added

    def dequeue_work(self, queue: QueueType, timeout: float) -> str | None:
        """The oldest queued id, waiting up to ``timeout`` seconds for one; None if none came."""
        taken = self._pop(queue, 1, timeout)
        return taken[0] if taken else None

    def dequeue_many(self, queue: QueueType, most: int, timeout: float) -> list[str]:
        """Up to ``most`` ids, oldest first, waiting up to ``timeout`` seconds for the first: one BZMPOP
        (Redis 7); on an older server a blocking pop of one, then a pop of the rest."""
        if most <= 1 or self._bzmpop:
            return self._pop(queue, most, timeout)
        first = self._pop(queue, 1, timeout)
        if not first:
            return []
        with provider_errors("dequeue_work"):
            rest = self._conn.execute("ZPOPMIN", self._keys[QueueType(queue)], most - 1)
        return [*first, *_members(rest)]

    def _pop(self, queue: QueueType, most: int, timeout: float) -> list[str]:
        """Up to ``most`` ids, blocking on the server (BZPOPMIN for one, BZMPOP for more) up to ``timeout``
        seconds for the first; ``timeout <= 0`` does not block."""
        if self._conn.closed:
            return []
        key = self._keys[QueueType(queue)]
        client, limit = self._conn.blocking()
        block = timeout if limit is None else min(timeout, limit)
        try:
            with provider_errors("dequeue_work"):
                if block <= 0:
                    return _members(self._conn.execute("ZPOPMIN", key, most))
                if most <= 1:
                    found = client.bzpopmin(key, timeout=block)
                    return [] if found is None else [text(found[1])]
                try:
                    found = client.execute_command("BZMPOP", block, 1, key, "MIN", "COUNT", most)
                except redis.RedisError as exc:
                    if not _unknown_command(exc):
                        raise
                    self._bzmpop = False  # before Redis 7
                    return self.dequeue_many(queue, most, timeout)
                return [] if not found else _members(found[1])
        except Exception:
            if self._conn.closed:  # closed under a blocked dequeue: shutting down, not a failure
                return []
            raise

    def push_keys(self, queue: QueueType, server: tuple[Any, ...] | None) -> list[str] | None:
        """The keys a script of a store on ``server`` (see ``RedisConnection.server``) queues an id of
        ``queue`` with, as ``queue_work`` does (the queue's sorted set, its sequence counter); None if this
        queue is on another server, or on a cluster."""
        if server is None or self._conn.server() != server:
            return None
        queue = QueueType(queue)
        return [self._keys[queue], self._sequences[queue]]

    def queue_length(self, queue: QueueType) -> int:
        """How many ids wait in ``queue`` (ZCARD)."""
        with provider_errors("queue_length"):
            return int(self._conn.execute("ZCARD", self._keys[QueueType(queue)]))

    def interrupt(self) -> None:
        """Wake every ``dequeue_work`` of this provider blocked on the server (it returns None): a stopping
        host. Best effort: a server out of reach leaves them to their timeout."""
        try:
            self._conn.unblock()
        except redis.RedisError as exc:
            log.debug("redis.unblock_failed", error=str(exc))

    def close(self) -> None:
        self._conn.close()


def _members(reply: Any) -> list[str]:
    """The members of a ZPOPMIN or BZMPOP reply: [[member, score], ...] (RESP3) or flat (RESP2)."""
    if reply and not isinstance(reply[0], (list, tuple)):
        return [text(member) for member in reply[::2]]
    return [text(pair[0]) for pair in reply]


def _unknown_command(exc: Exception) -> bool:
    """A server (or, on a cluster, redis-py's table of the servers' commands) without the command."""
    message = str(exc).lower()
    return "unknown command" in message or "doesn't exist" in message
