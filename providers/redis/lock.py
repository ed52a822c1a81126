"""Redis named locks: owned by a token per acquisition, leased, and renewed while held."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.crc import key_slot

from liteflow.core.lease import Hold, LeasedLocks

from . import scripts
from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors

#: Locks renewed per script call: a round over many held locks is a few round trips, well within a lease.
_RENEW_BATCH = 500


class RedisLockProvider(LeasedLocks, ConnectionHealth):
    """Distributed locks for hosts sharing one Redis server or one Redis Cluster.

    Guarantees:

    * every acquisition has a token of its own, set with the lease in one step (a Lua script): at most
      one holder at a time; not re-entrant (acquiring a lock already held, by anyone, answers False);
      the same acquisition sent again after its answer was lost finds its own token and answers True;
    * ``release_lock`` deletes the lock only if the releasing acquisition still owns it (a Lua
      compare-and-delete), so a lock that lapsed and was taken by another holder (another worker of the
      same process included) is left alone; a release the server did not answer is done once it does;
    * while held, leases are renewed every ``lease / 3`` seconds, up to 500 locks per script call; a
      lock whose key the server lost (a restart without its data, or a lease that ran out while the
      server was unreachable) is set again with the same token; if this process dies or stalls, or
      after ``close()`` (which stops renewing and does not release), the lock lapses within ``lease``
      seconds and another host can take the workflow over.
    """

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:", lease: float = 30.0) -> None:
        super().__init__(lease, name="liteflow-redis-lease")
        self._lease_ms = max(1, round(lease * 1000))
        self._conn = RedisConnection(url_or_client, prefix)
        self._acquire = self._conn.script(scripts.LOCK_ACQUIRE)
        self._release = self._conn.script(scripts.LOCK_RELEASE)
        self._renew_many = self._conn.script(scripts.LOCK_RENEW_MANY)

    def _key(self, resource_id: str) -> str:
        return self._conn.key("lock:", resource_id)

    def keys_for(self, server: tuple[Any, ...] | None) -> Callable[[str], str] | None:
        """For a store's script on ``server`` (see ``RedisConnection.server``) that takes a lock as
        ``acquire_lock`` does (through ``acquire_lock_with``, with :attr:`lease_ms`): the function giving
        a resource's lock key; None if this provider is on another server, or on a cluster."""
        if server is None or self._conn.server() != server:
            return None
        return self._key

    @property
    def lease_ms(self) -> int:
        """The lease a lock is set with, in milliseconds."""
        return self._lease_ms

    def _take(self, resource_id: str, token: str) -> bool:
        with provider_errors("acquire_lock"):
            return bool(self._conn.run_script(self._acquire, [self._key(resource_id)], [token, self._lease_ms]))

    def _free(self, resource_id: str, token: str) -> bool:
        with provider_errors("release_lock"):
            return bool(self._conn.run_script(self._release, [self._key(resource_id)], [token]))

    def _renew(self, holds: Sequence[Hold]) -> list[bool]:
        """One script call per 500 locks; on a cluster, per 500 locks of one hash slot (a script names
        keys of one slot), so a round over many locks is at most a few calls per slot held."""
        keyed = [(self._key(resource_id), token) for resource_id, token in holds]
        groups: dict[int, list[int]] = {}
        for position, (key, _) in enumerate(keyed):
            groups.setdefault(key_slot(key.encode()) if self._conn.cluster else 0, []).append(position)
        answers = [False] * len(keyed)
        for positions in groups.values():
            for start in range(0, len(positions), _RENEW_BATCH):
                batch = positions[start : start + _RENEW_BATCH]
                keys = [keyed[i][0] for i in batch]
                with provider_errors("renew_lock"):
                    flags = self._conn.run_script(
                        self._renew_many, keys, [self._lease_ms, *(keyed[i][1] for i in batch)]
                    )
                for i, flag in zip(batch, flags, strict=True):
                    answers[i] = bool(flag)
        return answers

    def close(self) -> None:
        """Stops renewing (held locks lapse after ``lease``) and closes what this object opened."""
        super().close()
        self._conn.close()
