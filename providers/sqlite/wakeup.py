"""Waking workers blocked on a SQLite queue: at once in this process, within milliseconds in the others.

SQLite has no way to block until another process writes, so:

* **this process** (any provider object on the same file): ``queue_work`` notifies a condition variable
  after its commit; one waiting worker of that queue wakes at once;
* **other processes**: a datagram to each waiting process's doorbell (see
  :mod:`liteflow.providers.sqlite.doorbell`) once the id is committed, which wakes one of its workers;
* **where there are no UNIX sockets** (or binding one fails): while a worker of this process waits,
  one watcher thread reads the
  highest ``seq`` of each queue someone waits on (one index lookup each: sequence numbers are never
  reused, so it changes with every id queued, whoever queued it) every 1 ms, doubling to 4 ms while it
  does not change. When it changed, the watcher counts the queued ids (at most as many as there are
  waiters) and wakes that many. Other writes to the file (persists, locks) do not wake it. Nobody
  waiting: the watcher sleeps on a condition variable and costs nothing.

Cost, measured with ``python -m benchmarks.sqlite_wakeup`` (2-core machine, see the README): doorbells
cost an idle process nothing; the polling fallback about 2 % of one core per idle process (250 timer
wake-ups a second) and wakes a worker in another process about 2 ms (p50) after ``queue_work``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

from liteflow.core.log import logger

from . import doorbell
from .database import Database

log = logger("sqlite")

POLL_MIN = 0.001
POLL_MAX = 0.004


class Wakeup:
    """The wake-ups of every queue on one database, for this process: one per :class:`Database`."""

    _of: weakref.WeakKeyDictionary[Database, Wakeup] = weakref.WeakKeyDictionary()
    _of_mutex = threading.Lock()

    def __init__(self, db: Database, kinds: Iterable[str]) -> None:
        self._db = db
        self._mutex = threading.Lock()
        self._ready = {kind: threading.Condition(self._mutex) for kind in kinds}
        self._generation = dict.fromkeys(self._ready, 0)
        self._waiting = dict.fromkeys(self._ready, 0)
        self._someone_waits = threading.Condition(self._mutex)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._doorbell = doorbell.Doorbell(db, self.notify) if doorbell.available() else None
        db.on_close(self.stop)

    @classmethod
    def of(cls, db: Database, kinds: Iterable[str]) -> Wakeup:
        with cls._of_mutex:
            wakeup = cls._of.get(db)
            if wakeup is None:
                wakeup = cls._of[db] = cls(db, kinds)
            return wakeup

    def generation(self, kind: str) -> int:
        """A number that changes with every wake-up of ``kind``: read it before looking at the queue, and
        :meth:`wait` returns at once if it changed meanwhile (no wake-up is lost)."""
        return self._generation[kind]

    def listen(self) -> None:
        """Ready this process to be woken by others (before its workers first look at a queue)."""
        bell = self._doorbell
        if bell is None or bell.name is not None:
            return
        try:
            bell.listen()
        except Exception as exc:  # no sockets here (sandbox, read-only temp dir): poll instead
            log.warning("sqlite.doorbell_unavailable", error=str(exc))
            self._doorbell = None
            bell.stop()

    def queued(self, kind: str, count: int = 1) -> None:
        """This process committed ``count`` ids on ``kind``: wake as many workers here, and ring the other
        processes."""
        self.notify(kind, count)
        bell = self._doorbell
        if bell is not None:
            try:
                bell.ring(kind, count)
            except Exception as exc:  # they find it when their dequeue times out (idle_wait)
                log.warning("sqlite.ring_failed", error=str(exc))

    def notify(self, kind: str, count: int = 1) -> None:
        """``count`` ids were queued on ``kind``: wake as many waiters of this process."""
        with self._mutex:
            self._generation[kind] += 1
            self._ready[kind].notify(count)

    def notify_all(self) -> None:
        with self._mutex:
            for kind, ready in self._ready.items():
                self._generation[kind] += 1
                ready.notify_all()

    def wait(self, kind: str, generation: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a wake-up of ``kind`` (none if ``generation`` is stale)."""
        with self._mutex:
            if self._generation[kind] != generation or self._stop.is_set():
                return
            self._waiting[kind] += 1
            if self._doorbell is None:
                self._start_watcher()
                self._someone_waits.notify()
            try:
                self._ready[kind].wait(timeout)
            finally:
                self._waiting[kind] -= 1

    def _start_watcher(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="liteflow-sqlite-wakeup", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        last: dict[str, int | None] = {}
        interval = POLL_MIN
        while True:
            with self._mutex:
                while not self._stop.is_set() and not any(self._waiting.values()):
                    self._someone_waits.wait()
                    interval = POLL_MIN
            if self._stop.wait(interval):
                return
            try:
                interval = POLL_MIN if self._wake_for_queued(last) else min(interval * 2, POLL_MAX)
            except Exception as exc:  # the file may be busy or briefly away: look again later
                log.warning("sqlite.wakeup_failed", error=str(exc))
                interval = POLL_MAX

    def _wake_for_queued(self, last: dict[str, int | None]) -> bool:
        """Wake the waiters of every queue whose highest seq moved since ``last`` (updated); True if one
        did. A queue first watched now counts as moved (its state before is unknown)."""
        with self._mutex:
            wanted = {kind: n for kind, n in self._waiting.items() if n}
        moved = False
        for kind, n in wanted.items():
            top = self._db.query("wakeup", "SELECT max(seq) FROM queue WHERE kind = ?", (kind,))[0][0]
            if kind in last and last[kind] == top:
                continue
            last[kind] = top
            moved = True
            queued = self._db.query(
                "wakeup", "SELECT count(*) FROM (SELECT 1 FROM queue WHERE kind = ? LIMIT ?)", (kind, n)
            )[0][0]
            if queued:
                with self._mutex:
                    self._generation[kind] += 1
                    self._ready[kind].notify(int(queued))
        return moved

    def stop(self) -> None:
        self._stop.set()
        if self._doorbell is not None:
            self._doorbell.stop()
        self.notify_all()
        with self._mutex:
            self._someone_waits.notify_all()
