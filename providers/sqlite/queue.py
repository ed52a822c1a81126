"""SQLite work queues: FIFO, without duplicates, with a blocking dequeue shared by processes."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence

from liteflow.core.interfaces import QueueType

from .database import Database
from .health import FileHealth
from .wakeup import Wakeup

_KINDS = tuple(q.value for q in QueueType)
_PUSH = "INSERT OR IGNORE INTO queue (kind, item_id) VALUES (?, ?)"
_POP = "DELETE FROM queue WHERE seq = (SELECT seq FROM queue WHERE kind = ? ORDER BY seq LIMIT 1) RETURNING item_id"


class SqliteQueueProvider(FileHealth):
    """One queue per :class:`QueueType` in a SQLite file, shared by every process that opens it.

    Guarantees:

    * FIFO across processes, and an id already queued is not queued twice (a unique key on (queue, id),
      ``INSERT OR IGNORE``); popping deletes the row it returns in one statement, so two workers never
      get the same id;
    * ``dequeue_work`` blocks up to ``timeout`` seconds without polling the queue: a worker of this
      process wakes the moment anyone here queues, and one of another process within a few milliseconds
      (see :mod:`liteflow.providers.sqlite.wakeup`); ``interrupt()`` wakes them all (they return None);
    * an id popped by a process that then dies is lost from the queue, not from the workflow: the host's
      runnable poller finds runnable instances and unprocessed events in persistence and queues them again.
    """

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "NORMAL") -> None:
        self._db = Database.open(path, synchronous)
        self.path = self._db.path
        self._wakeup = Wakeup.of(self._db, _KINDS)
        self._interrupts = 0
        self._closed = False

    def queue_work(self, item_id: str, queue: QueueType) -> None:
        kind = QueueType(queue).value

        self._push("queue_work", kind, [item_id])

    def queue_work_many(self, item_ids: Sequence[str], queue: QueueType) -> int:
        """Queue each id not already queued, in order, in one transaction; how many were added."""
        return self._push("queue_work_many", QueueType(queue).value, item_ids) if item_ids else 0

    def _push(self, action: str, kind: str, item_ids: Sequence[str]) -> int:
        def push(connection: sqlite3.Connection) -> int:
            return sum(connection.execute(_PUSH, (kind, item_id)).rowcount for item_id in item_ids)

        added = self._db.write(action, push)
        if added:
            self._wakeup.queued(kind, added)
        return added

    def queue_length(self, queue: QueueType) -> int:
        """How many ids wait in ``queue``."""
        rows = self._db.query("queue_length", "SELECT count(*) FROM queue WHERE kind = ?", (QueueType(queue).value,))
        return int(rows[0][0])

    def _pop(self, kind: str) -> str | None:
        # looked at first without the write lock: an empty queue costs a read, not a write transaction
        if not self._db.query("dequeue_work", "SELECT 1 FROM queue WHERE kind = ? LIMIT 1", (kind,)):
            return None
        rows = self._db.write("dequeue_work", lambda connection: connection.execute(_POP, (kind,)).fetchall())
        return str(rows[0][0]) if rows else None

    def dequeue_work(self, queue: QueueType, timeout: float) -> str | None:
        """The oldest queued id, waiting up to ``timeout`` seconds for one; None if none came (or the
        provider was interrupted or closed meanwhile)."""
        kind = QueueType(queue).value
        deadline = time.monotonic() + timeout
        interrupts = self._interrupts
        self._wakeup.listen()
        while not self._closed:
            generation = self._wakeup.generation(kind)
            item = self._pop(kind)
            if item is not None:
                return item
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._interrupts != interrupts:
                return None
            self._wakeup.wait(kind, generation, remaining)
            if self._interrupts != interrupts:
                return None
        return None

    def interrupt(self) -> None:
        """Wake every ``dequeue_work`` of this provider (it returns None): a stopping host."""
        self._interrupts += 1
        self._wakeup.notify_all()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.interrupt()
            self._db.release()
