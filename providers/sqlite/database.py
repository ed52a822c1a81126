"""One SQLite file shared by the three SQLite providers of a process: connections, transactions, retries.

Every provider object opened on a path gets the same :class:`Database` (one per file and process,
counted, closed with its last provider), so the persistence, queue and lock of a host share each
thread's connection and one write mutex.

How several threads and processes share the file:

* WAL journal (readers never wait for the writer, nor it for them), ``synchronous=NORMAL`` by default
  (a committed transaction survives the process being killed at any moment; a power cut may lose the
  last ones, never the file's consistency; ``synchronous="FULL"`` keeps those too, at an fsync per
  commit);
* one connection per thread (made on its first use, closed with the database or when its thread ends);
* writes are short ``BEGIN IMMEDIATE`` transactions: the write lock is taken first, so a transaction
  never fails half-way to upgrade a read lock. Threads of one process queue for writing on a mutex
  (woken in turn at once, instead of SQLite's sleeping busy handler); processes wait for each other
  with ``busy_timeout``;
* a "database is locked" or "busy" that outlasts ``busy_timeout`` is retried with backoff inside the
  provider, up to ``busy_limit`` seconds: the user sees the call succeed, or after that long a
  :class:`~liteflow.core.errors.ProviderError`. Every other driver error is a ProviderError too.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from liteflow.core.errors import ProviderError
from liteflow.core.log import logger
from liteflow.core.services.urls import sqlite_path as url_path

from .schema import SCHEMA, SCHEMA_VERSION, UPGRADES

log = logger("sqlite")
T = TypeVar("T")

#: How long SQLite itself waits for another process's write lock, per attempt (milliseconds).
BUSY_TIMEOUT_MS = 5_000
#: How long the provider keeps retrying a busy database before it gives up (seconds).
BUSY_LIMIT = 60.0
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes, & 0xFF)
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def sqlite_path(path_or_url: str | os.PathLike[str]) -> str:
    """A file path from a path or a ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` URL."""
    text = os.fspath(path_or_url)
    if text.startswith("sqlite://"):
        text = url_path(text)
    if not text or text == ":memory:":
        raise ValueError("the SQLite providers need a file (several connections share it), not :memory:")
    return text


def is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class _Connection:
    """A thread's connection, in a holder a weak set can track (a sqlite3.Connection cannot be). Its
    mutex is held while the connection is used, so :meth:`Database.close` never closes it under a
    statement running in its thread (which would crash the interpreter)."""

    __slots__ = ("__weakref__", "closed", "mutex", "raw")

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self.mutex = threading.Lock()
        self.closed = False


class Database:
    """A SQLite file opened by this process; use :meth:`open` (shared) rather than the constructor."""

    _open: dict[str, Database] = {}
    _registry_mutex = threading.Lock()

    def __init__(self, path: str, synchronous: str = "NORMAL", busy_limit: float = BUSY_LIMIT) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous.upper()
        self.busy_limit = busy_limit
        self.users = 0
        self.closed = False
        self.write_mutex = threading.Lock()
        self._local = threading.local()
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._pid = os.getpid()
        self._attached: list[Callable[[], None]] = []
        self._prepare()

    # -- sharing -------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path_or_url: str | os.PathLike[str], synchronous: str = "NORMAL") -> Database:
        """The process's database for this file (opened, and its schema made, on first use)."""
        path = sqlite_path(path_or_url)
        key = os.path.realpath(path)
        with cls._registry_mutex:
            database = cls._open.get(key)
            if database is None or database.closed or database._pid != os.getpid():
                database = cls(path, synchronous)
                cls._open[key] = database
            elif database.synchronous != synchronous.upper():
                log.warning("sqlite.synchronous_kept", path=path, kept=database.synchronous, asked=synchronous)
            database.users += 1
            return database

    def release(self) -> None:
        """One provider is done with the database; the last one closes it."""
        with self._registry_mutex:
            self.users -= 1
            if self.users > 0:
                return
            if self._open.get(os.path.realpath(self.path)) is self:
                del self._open[os.path.realpath(self.path)]
        self.close()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the database closes (e.g. to stop a thread that uses it)."""
        self._attached.append(callback)

    # -- connections ---------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        raw = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        raw.execute(f"PRAGMA synchronous = {self.synchronous}")
        return raw

    def _held(self) -> _Connection:
        """This thread's connection (made on first use)."""
        held: _Connection | None = getattr(self._local, "connection", None)
        if held is None:
            if self.closed:
                raise ProviderError(f"sqlite database {self.path} is closed")
            held = _Connection(self._connect())
            self._local.connection = held
            self._all.add(held)
        return held

    def _prepare(self) -> None:
        """WAL mode and the schema, once per file (idempotent; several processes may race here)."""

        def make(connection: sqlite3.Connection) -> None:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                return  # made already (by this process or another one)
            if version == 0:
                statements: list[str] = list(SCHEMA)
            else:  # made by an older version: brought up to date
                statements = [s for v in range(version + 1, SCHEMA_VERSION + 1) for s in UPGRADES[v]]
                log.info("sqlite.upgrade", path=self.path, version=version, to=SCHEMA_VERSION)
            for statement in statements:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        def wal(connection: sqlite3.Connection) -> None:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ProviderError(f"sqlite database {self.path} cannot use WAL mode (journal_mode is {mode})")

        self.retrying("open", wal)
        if self.query("open", "PRAGMA user_version")[0][0] < SCHEMA_VERSION:
            self.write("open", make)

    # -- transactions --------------------------------------------------------------------------------
    def retrying(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body(connection)``; a busy database is retried with backoff (jittered, doubling to
        50 ms) for up to ``busy_limit`` seconds, and any driver error ends as a ProviderError."""
        deadline: float | None = None
        delay = 0.001
        while True:
            try:
                held = self._held()
                with held.mutex:
                    if held.closed:
                        raise ProviderError(f"sqlite database {self.path} is closed")
                    return body(held.raw)
            except sqlite3.Error as exc:
                if not is_busy(exc):
                    log.warning("sqlite.failed", action=action, error=str(exc), error_type=type(exc).__name__)
                    raise ProviderError(f"sqlite {action} failed: {exc}") from exc
                now = time.monotonic()
                deadline = now + self.busy_limit if deadline is None else deadline
                if now >= deadline:
                    log.error("sqlite.busy_gave_up", action=action, seconds=self.busy_limit, path=self.path)
                    raise ProviderError(
                        f"sqlite {action}: {self.path} stayed busy for {self.busy_limit:.0f} s ({exc})"
                    ) from exc
                log.debug("sqlite.busy_retry", action=action, delay=delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)

    def write(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` in one BEGIN IMMEDIATE transaction, committed if it returns and rolled back if it
        raises (a ConcurrencyError from it leaves nothing changed); retried whole while busy."""

        def transaction(connection: sqlite3.Connection) -> T:
            with self.write_mutex, _rollback_on_error(connection):
                connection.execute("BEGIN IMMEDIATE")
                result = body(connection)
                connection.execute("COMMIT")
                return result

        return self.retrying(action, transaction)

    def read(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` in one read transaction: every statement in it sees the same snapshot."""

        def transaction(connection: sqlite3.Connection) -> T:
            with _rollback_on_error(connection):
                connection.execute("BEGIN")
                result = body(connection)
                connection.execute("COMMIT")
                return result

        return self.retrying(action, transaction)

    def query(self, action: str, sql: str, parameters: Any = ()) -> list[Any]:
        """One statement's rows (one statement is its own snapshot)."""
        return self.retrying(action, lambda connection: connection.execute(sql, parameters).fetchall())

    def close(self) -> None:
        """Stop what hangs off this object (it may still write, e.g. to take a doorbell out), then close
        every connection it made, for every thread."""
        for callback in self._attached:
            try:
                callback()
            except Exception as exc:  # closing is best effort
                log.debug("sqlite.close_callback_failed", error=str(exc))
        self.closed = True
        for held in list(self._all):
            with held.mutex:  # waits for a statement running in the connection's thread
                held.closed = True
                try:
                    held.raw.close()
                except sqlite3.Error as exc:
                    log.debug("sqlite.close_failed", error=str(exc))


@contextmanager
def _rollback_on_error(connection: sqlite3.Connection) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if connection.in_transaction:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error as exc:  # the transaction is gone already (e.g. the connection broke)
                log.debug("sqlite.rollback_failed", error=str(exc))
        raise
