"""SQLite named locks: a token per acquisition, leased, and renewed while held (see ``liteflow.core.lease``)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence

from liteflow.core.lease import Hold, LeasedLocks

from .database import Database
from .health import FileHealth

#: Set the lock for a token if it is free, lapsed, or already this token's (taking and renewing alike).
_SET = (
    "INSERT INTO locks (resource, token, expires) VALUES (?, ?, ?)"
    " ON CONFLICT (resource) DO UPDATE SET token = excluded.token, expires = excluded.expires"
    " WHERE locks.token = excluded.token OR locks.expires <= ?"
)
_FREE = "DELETE FROM locks WHERE resource = ? AND token = ?"


class SqliteLockProvider(LeasedLocks, FileHealth):
    """Locks for every process sharing one SQLite file.

    Guarantees:

    * every acquisition has a token of its own (see :class:`~liteflow.core.lease.LeasedLocks`): taking
      it is one upsert that succeeds only if the lock is free, its lease has lapsed, or it is already
      this token's, so at most one owner holds a resource at a time; not re-entrant;
    * ``release_lock`` deletes the lock only if the releasing acquisition still owns it, so a lock that
      lapsed and was taken by another owner (another worker of this process included) is left alone;
    * while held, leases are renewed every ``lease / 3`` seconds, every hold in one transaction; if this
      process dies or stalls, or after ``close()`` (which stops renewing and does not release), the lock
      lapses within ``lease`` seconds and another process can take the workflow over. Leases are
      wall-clock times (processes share them), so a clock stepped by more than a lease shortens or
      lengthens the leases running then.
    """

    def __init__(self, path: str | os.PathLike[str], lease: float = 30.0, synchronous: str = "NORMAL") -> None:
        super().__init__(lease, name="liteflow-sqlite-lease")
        self._db = Database.open(path, synchronous)
        self.path = self._db.path
        self._closed = False

    def _take(self, resource_id: str, token: str) -> bool:
        def take(connection: sqlite3.Connection) -> bool:
            now = time.time()
            return connection.execute(_SET, (resource_id, token, now + self.lease, now)).rowcount == 1

        return self._db.write("acquire_lock", take)

    def _renew(self, holds: Sequence[Hold]) -> list[bool]:
        def renew(connection: sqlite3.Connection) -> list[bool]:
            now = time.time()
            expires = now + self.lease
            return [connection.execute(_SET, (r, t, expires, now)).rowcount == 1 for r, t in holds]

        return self._db.write("renew_lock", renew)

    def _free(self, resource_id: str, token: str) -> bool:
        return self._db.write(
            "release_lock", lambda connection: connection.execute(_FREE, (resource_id, token)).rowcount == 1
        )

    def close(self) -> None:
        """Stops renewing (held locks lapse after ``lease``) and lets go of the file."""
        super().close()
        if not self._closed:
            self._closed = True
            self._db.release()
