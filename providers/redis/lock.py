"""Redis named locks: token-owned, leased, and renewed while held."""

from __future__ import annotations

import secrets

from liteflow.core.lease import LeaseRenewer
from liteflow.core.log import logger

from . import scripts
from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors

log = logger("redis")


class RedisLockProvider(ConnectionHealth):
    """Distributed locks for hosts sharing one Redis server.

    Guarantees:

    * a lock is owned by this provider object (one random token per object): ``SET key token NX PX``,
      so at most one owner holds a resource at a time; not re-entrant (acquiring a lock this object
      already holds returns False);
    * ``release_lock`` deletes the lock only if this object still owns it (a Lua compare-and-delete),
      so a lock that lapsed and was taken by another owner is left alone;
    * while held, the lease is renewed every ``lease / 3`` seconds (a Lua compare-and-PEXPIRE) by a
      :class:`LeaseRenewer`, so a long step keeps its lock; if this process dies or stalls, or after
      ``close()`` (which stops renewing and does not release), the lock lapses within ``lease`` seconds
      and another host can take the workflow over.
    """

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:", lease: float = 30.0) -> None:
        if lease <= 0:
            raise ValueError("lease must be positive")
        self.lease = lease
        self._lease_ms = max(1, round(lease * 1000))
        self._conn = RedisConnection(url_or_client, prefix)
        self._token = secrets.token_hex(16)
        self._release = self._conn.script(scripts.LOCK_RELEASE)
        self._renew_script = self._conn.script(scripts.LOCK_RENEW)
        self._renewer = LeaseRenewer(lease, self._renew, name="liteflow-redis-lease")

    def _key(self, resource_id: str) -> str:
        return self._conn.key("lock:", resource_id)

    def acquire_lock(self, resource_id: str) -> bool:
        with provider_errors("acquire_lock"):
            taken = self._conn.execute("SET", self._key(resource_id), self._token, "NX", "PX", self._lease_ms)
        if not taken:
            return False
        self._renewer.hold(resource_id)
        return True

    def release_lock(self, resource_id: str) -> None:
        self._renewer.forget(resource_id)
        with provider_errors("release_lock"):
            released = self._conn.run_script(self._release, [self._key(resource_id)], [self._token])
        if not released:
            log.debug("lock.release_not_owned", resource=resource_id)

    def _renew(self, resource_id: str) -> bool:
        """Extends the lease if this object still owns the lock; False if it was lost."""
        with provider_errors("renew_lock"):
            return bool(
                self._conn.run_script(self._renew_script, [self._key(resource_id)], [self._token, self._lease_ms])
            )

    def close(self) -> None:
        """Stops renewing (held locks lapse after ``lease``) and closes what this object opened."""
        self._renewer.stop()
        self._conn.close()
