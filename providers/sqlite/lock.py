"""SQLite named locks: a token per acquisition, leased, and renewed while held."""

from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
import time

from liteflow.core.lease import LeaseRenewer
from liteflow.core.log import logger

from .database import Database

log = logger("sqlite")

_TAKE = (
    "INSERT INTO locks (resource, token, expires) VALUES (?, ?, ?)"
    " ON CONFLICT (resource) DO UPDATE SET token = excluded.token, expires = excluded.expires"
    " WHERE locks.expires <= ?"
)


class SqliteLockProvider:
    """Locks for every process sharing one SQLite file.

    Guarantees:

    * a lock is owned by this provider object, under a token new for each acquisition (this object's
      random prefix and a counter): taking it is one upsert that succeeds only if the lock is free or its
      lease has lapsed, so at most one owner holds a resource at a time; not re-entrant;
    * ``release_lock`` deletes the lock only if it still holds this acquisition's token, so a lock that
      lapsed and was taken by another owner is left alone;
    * while held, the lease is renewed every ``lease / 3`` seconds (compare-token-and-extend) by a
      :class:`LeaseRenewer`; if this process dies or stalls, or after ``close()`` (which stops renewing
      and does not release), the lock lapses within ``lease`` seconds and another process can take the
      workflow over. Leases are wall-clock times (processes share them), so a clock stepped by more than
      a lease shortens or lengthens the leases running then.
    """

    def __init__(self, path: str | os.PathLike[str], lease: float = 30.0, synchronous: str = "NORMAL") -> None:
        if lease <= 0:
            raise ValueError("lease must be positive")
        self.lease = lease
        self._db = Database.open(path, synchronous)
        self.path = self._db.path
        self._prefix = secrets.token_hex(8) + ":"
        self._counter = itertools.count(1)
        #: resource -> the token of this object's current acquisition
        self._tokens: dict[str, str] = {}
        self._renewer = LeaseRenewer(lease, self._renew, name="liteflow-sqlite-lease")
        self._closed = False

    def acquire_lock(self, resource_id: str) -> bool:
        token = f"{self._prefix}{next(self._counter)}"

        def take(connection: sqlite3.Connection) -> bool:
            now = time.time()
            held = connection.execute(_TAKE, (resource_id, token, now + self.lease, now))
            return held.rowcount == 1

        if not self._db.write("acquire_lock", take):
            return False
        self._tokens[resource_id] = token
        self._renewer.hold(resource_id)
        return True

    def release_lock(self, resource_id: str) -> None:
        self._renewer.forget(resource_id)
        token = self._tokens.pop(resource_id, None)
        if token is None:
            return
        released = self._db.write(
            "release_lock",
            lambda connection: (
                connection.execute("DELETE FROM locks WHERE resource = ? AND token = ?", (resource_id, token)).rowcount
            ),
        )
        if not released:
            log.debug("lock.release_not_owned", resource=resource_id)

    def _renew(self, resource_id: str) -> bool:
        """Extends the lease if this acquisition still owns the lock; False if it was lost."""
        token = self._tokens.get(resource_id)
        if token is None:
            return False
        renewed = self._db.write(
            "renew_lock",
            lambda connection: (
                connection.execute(
                    "UPDATE locks SET expires = ? WHERE resource = ? AND token = ?",
                    (time.time() + self.lease, resource_id, token),
                ).rowcount
            ),
        )
        return bool(renewed)

    def close(self) -> None:
        """Stops renewing (held locks lapse after ``lease``) and lets go of the file."""
        self._renewer.stop()
        if not self._closed:
            self._closed = True
            self._db.release()
