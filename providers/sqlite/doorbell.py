"""Doorbells between processes sharing a SQLite file: a UNIX datagram socket per process that waits.

A process whose workers wait on a queue binds a datagram socket (on Linux in the abstract namespace,
which vanishes with the process; elsewhere a socket file in the temporary directory) and records its
name in the file's ``doorbells`` table before its first look at the queue. A process that queues an id
sends, after its commit, one datagram naming the queue to every other doorbell (non-blocking); a
thread of the receiving process, blocked in ``recv``, wakes one of its waiting workers. Doorbells of
dead processes answer "connection refused" and are deleted by whoever rang them.

No wake-up is lost: a doorbell is recorded before its process first looks at the queue, and a ringer
reads the doorbells after committing its id, so either the waiter's look sees the id or the ringer
sees the doorbell. Nothing polls: an idle process costs nothing; each id queued costs the ringer a
read of the (tiny) table and one ``sendto`` per other waiting process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import tempfile
import threading
from collections.abc import Callable

from liteflow.core.log import logger

from .database import Database

log = logger("sqlite")

_ABSTRACT = sys.platform.startswith("linux")


def available() -> bool:
    """Whether this platform has UNIX datagram sockets (else the queue falls back to polling)."""
    return os.name == "posix" and hasattr(socket, "AF_UNIX")  # Windows has no UNIX datagram sockets


def _address(name: str) -> str:
    """The socket address a stored name stands for (``@x`` is the abstract name ``\\0x``)."""
    return "\0" + name[1:] if name.startswith("@") else name


class Doorbell:
    """This process's doorbell on one database, and the means to ring the others'."""

    def __init__(self, db: Database, on_ring: Callable[[str, int], None]) -> None:
        self._db = db
        self._on_ring = on_ring
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._mutex = threading.Lock()
        self._inbox: socket.socket | None = None
        self.name: str | None = None
        self._stopped = False

    def listen(self) -> None:
        """Bind this process's doorbell and record it in the file (once; call before looking at a queue)."""
        if self.name is not None:
            return
        with self._mutex:
            if self.name is not None or self._stopped:
                return
            token = f"liteflow-{secrets.token_hex(6)}-{os.getpid()}"
            name = f"@{token}" if _ABSTRACT else os.path.join(tempfile.gettempdir(), f"{token}.sock")
            inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            inbox.bind(_address(name))
            try:
                self._db.write(
                    "doorbell",
                    lambda c: c.execute(
                        "INSERT OR REPLACE INTO doorbells (name, pid) VALUES (?, ?)", (name, os.getpid())
                    ),
                )
            except BaseException:
                inbox.close()
                self._unlink(name)
                raise
            self._inbox = inbox
            threading.Thread(target=self._receive, args=(inbox,), name="liteflow-sqlite-doorbell", daemon=True).start()
            self.name = name

    def ring(self, kind: str, count: int = 1) -> None:
        """Tell every other waiting process that ``count`` ids were queued on ``kind``."""
        names = self._db.query("doorbell", "SELECT name FROM doorbells")
        gone = []
        payload = (kind if count == 1 else f"{kind}:{count}").encode()
        for (name,) in names:
            if name == self.name:
                continue
            try:
                self._sender.sendto(payload, socket.MSG_DONTWAIT, _address(name))
            except BlockingIOError:  # its inbox is full: it has wake-ups enough pending
                continue
            except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                gone.append((name,))
            except OSError as exc:
                log.debug("sqlite.doorbell_failed", doorbell=name, error=str(exc))
        if gone:
            self._db.write("doorbell", lambda c: c.executemany("DELETE FROM doorbells WHERE name = ?", gone))

    def _receive(self, inbox: socket.socket) -> None:
        while True:
            try:
                data = inbox.recv(64)
            except OSError:
                return
            if self._stopped:
                return
            try:
                kind, _, count = data.decode(errors="replace").partition(":")
                self._on_ring(kind, int(count or 1))
            except Exception as exc:  # a bad datagram must not end the doorbell
                log.debug("sqlite.doorbell_ring_failed", error=str(exc))

    def stop(self) -> None:
        """Stop listening, and take this doorbell out of the file (best effort)."""
        with self._mutex:
            self._stopped = True
            name, inbox, self._inbox = self.name, self._inbox, None
        if name is not None and inbox is not None:
            with contextlib.suppress(OSError):
                self._sender.sendto(b"", socket.MSG_DONTWAIT, _address(name))  # wakes the receiving thread
            inbox.close()
            with contextlib.suppress(Exception):
                self._db.write("doorbell", lambda c: c.execute("DELETE FROM doorbells WHERE name = ?", (name,)))
            self._unlink(name)
        self._sender.close()

    @staticmethod
    def _unlink(name: str) -> None:
        if not name.startswith("@"):
            with contextlib.suppress(OSError):
                os.unlink(name)
