"""Leased locks: a fresh token per acquisition, and a background timer that keeps the held ones alive.

Both built-in lock providers (and any other that wants it) derive from :class:`LeasedLocks` and supply
three operations on their store: take a lock for a token, renew a batch of (resource, token) holds, free a
lock if a token still owns it. Everything else lives here, once:

* every acquisition gets its own token, so a holder's release or renewal can only ever touch its own
  acquisition: after a lease lapsed and another worker of the same process took the lock, the first
  worker's release leaves the second's lock alone;
* ``acquire_lock(resource_id) -> bool`` and ``release_lock(resource_id)`` keep working for existing
  callers: a release made without a token frees the oldest unreleased acquisition the calling thread
  made (the engine takes and releases a lock on one thread); :meth:`LeasedLocks.acquire_lock_token` and
  ``release_lock(resource_id, token)`` carry the token explicitly for callers that need it;
* an acquisition or release whose answer was lost (the store went away) is not left behind: the lock
  may be set on the store with a token nobody holds, so the renewer frees it by that token once the store
  answers again;
* while held, leases are renewed every ``lease / 3`` in one batch per round; a round that fails (store
  unreachable) is tried again soon, and a renewal that finds its key gone (the store restarted or the
  lease lapsed while unreachable) sets it again with the same token.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Sequence

from liteflow.core.log import logger

log = logger("lease")

#: A held lock: (resource id, token of the acquisition).
Hold = tuple[str, str]

#: How soon a failed renewal round (store unreachable) is tried again, at first and at most.
_RETRY_FIRST = 0.05
_RETRY_MOST = 0.5


class LeaseRenewer:
    """Renews every held (resource, token) every ``lease / 3`` seconds with one ``renew(holds)`` call,
    which answers, per hold, whether it is still owned (False: lost; it is then forgotten and logged).

    ``free(resource, token)`` (if given) is called for the acquisitions handed to :meth:`free_later`
    until it succeeds, and for a hold released while its renewal was on its way (the renewal may have
    set it again). A round that raises, or leaves something to free, is tried again after 50 ms,
    doubling up to 0.5 s (at most ``lease / 3``): holds are re-asserted within about half a second of
    the store answering again.
    """

    def __init__(
        self,
        lease: float,
        renew: Callable[[Sequence[Hold]], Sequence[bool]],
        free: Callable[[str, str], object] | None = None,
        name: str = "liteflow-lease",
    ) -> None:
        self.lease = lease
        self._renew = renew
        self._free = free
        #: token -> resource, of the holds renewed each round
        self._held: dict[str, str] = {}
        #: token -> resource, of acquisitions to free on the store as soon as it answers
        self._to_free: dict[str, str] = {}
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._name = name

    # Every worker thread takes and releases a lock per workflow it runs: setting and popping a dictionary
    # entry are single steps for the interpreter and need no mutex (one shared mutex here made the workers
    # queue up behind each other); only starting the renewal thread does.
    def hold(self, resource_id: str, token: str) -> None:
        self._held[token] = resource_id
        self._ensure_thread()

    def forget(self, token: str) -> None:
        self._held.pop(token, None)

    def free_later(self, resource_id: str, token: str) -> None:
        """Free this acquisition on the store once it answers (its outcome is unknown, or its release
        failed); the renewal thread tries soon, then again until it succeeds."""
        self._held.pop(token, None)
        if self._free is not None:
            self._to_free[token] = resource_id
            self._ensure_thread()
            self._wake.set()

    def held(self) -> set[str]:
        """The resources held (renewed each round)."""
        return set(self._held.values())

    def holds(self) -> list[Hold]:
        return [(resource, token) for token, resource in list(self._held.items())]

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._mutex:
                if self._thread is None or not self._thread.is_alive():
                    self._stopped = False
                    self._wake.clear()
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        interval = self.lease / 3
        wait = interval
        while True:
            self._wake.wait(wait)
            if self._stopped:
                return
            self._wake.clear()
            began = time.monotonic()
            try:
                self.renew_once()
                took = time.monotonic() - began
                if took > interval:  # the next renewal of the first hold comes later than a third of the lease
                    log.warning("lock.renew_slow", seconds=round(took, 3), holds=len(self._held), lease=self.lease)
                wait = max(interval - took, 0.0) if not self._to_free else min(interval, _RETRY_FIRST)
            except Exception as exc:  # the store may be briefly away: try again soon
                wait = min(interval, _RETRY_MOST, _RETRY_FIRST if wait >= interval else wait * 2)
                log.warning("lock.renew_failed", error=f"{type(exc).__name__}: {exc}", retry_in=wait)

    def renew_once(self) -> None:
        """One round: free what is to be freed, then renew every hold (raises if the store fails)."""
        self._free_pending()
        holds = self.holds()
        if not holds:
            return
        answers = self._renew(holds)
        for (resource_id, token), ok in zip(holds, answers, strict=True):
            if token in self._held:
                if not ok:
                    self._held.pop(token, None)
                    log.warning("lock.lost", resource=resource_id)
            elif ok and self._free is not None:  # released meanwhile: the renewal may have set it again
                self._to_free[token] = resource_id
        self._free_pending()

    def _free_pending(self) -> None:
        for token, resource_id in list(self._to_free.items()):
            assert self._free is not None
            self._free(resource_id, token)
            self._to_free.pop(token, None)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None


class LeasedLocks:
    """The public side of a leased lock provider (the ``LockProvider`` Protocol and a token API), on top
    of three operations a subclass implements on its store:

    * ``_take(resource_id, token) -> bool``: set the lock for ``token`` with a lease if it is free; True
      also if it is already set for this very token (a command sent again after its answer was lost);
    * ``_renew(holds) -> list[bool]``: extend each hold's lease if its token still owns it, or set it
      again for that token if its key is gone; False for a hold whose lock another token now owns;
    * ``_free(resource_id, token) -> bool``: delete the lock only if ``token`` owns it.
    """

    lease: float

    def __init__(self, lease: float, name: str) -> None:
        if lease <= 0:
            raise ValueError("lease must be positive")
        self.lease = lease
        self._prefix = secrets.token_hex(8) + ":"
        self._count = itertools.count(1)
        #: resource -> (thread ident, token) of each acquisition not yet released, oldest first: what a
        #: release without a token frees
        self._mine: dict[str, list[tuple[int, str]]] = {}
        self._mine_mutex = threading.Lock()
        self._renewer = LeaseRenewer(lease, self._renew, self._free, name=name)

    # -- the store's side --------------------------------------------------------------------------------
    def _take(self, resource_id: str, token: str) -> bool:
        raise NotImplementedError

    def _renew(self, holds: Sequence[Hold]) -> list[bool]:
        raise NotImplementedError

    def _free(self, resource_id: str, token: str) -> bool:
        raise NotImplementedError

    # -- the public side ---------------------------------------------------------------------------------
    def new_token(self) -> str:
        """A token no other acquisition anywhere uses: this object's random prefix and a counter."""
        return f"{self._prefix}{next(self._count)}"

    def acquire_lock(self, resource_id: str) -> bool:
        """Take the lock if it is free; not re-entrant (a lock already held, by anyone, answers False)."""
        return self.acquire_lock_token(resource_id) is not None

    def acquire_lock_token(self, resource_id: str) -> str | None:
        """``acquire_lock`` answering with the acquisition's token (None if not taken), for
        ``release_lock(resource_id, token)``."""
        return self.acquire_lock_with(resource_id, lambda token: self._take(resource_id, token))

    def acquire_lock_with(self, resource_id: str, take: Callable[[str], bool]) -> str | None:
        """``acquire_lock_token`` with the store's step given: ``take(token)`` sets the lock as ``_take``
        does (and may do more in the same step, such as reading what the lock guards); True if taken."""
        token = self.new_token()
        try:
            taken = take(token)
        except BaseException:
            self._renewer.free_later(resource_id, token)  # it may have been set before the answer was lost
            raise
        if not taken:
            return None
        with self._mine_mutex:
            self._mine.setdefault(resource_id, []).append((threading.get_ident(), token))
        self._renewer.hold(resource_id, token)
        return token

    def release_lock(self, resource_id: str, token: str | None = None) -> None:
        """Release an acquisition: the one with ``token``, or else the oldest one this thread made that is
        not released yet (else this object's oldest of ``resource_id``). A lock another acquisition owns
        is left alone; a release the store did not answer is done later, in the background."""
        token = self._forget(resource_id, token)
        if token is None:
            return
        self._renewer.forget(token)
        try:
            freed = self._free(resource_id, token)
        except Exception as exc:
            log.warning("lock.release_failed", resource=resource_id, error=f"{type(exc).__name__}: {exc}")
            self._renewer.free_later(resource_id, token)
            return
        if not freed:
            log.debug("lock.release_not_owned", resource=resource_id)

    def _forget(self, resource_id: str, token: str | None) -> str | None:
        """The acquisition a release means (see :meth:`release_lock`), no longer recorded as held."""
        with self._mine_mutex:
            held = self._mine.get(resource_id)
            if not held:
                return token
            if token is not None:
                chosen = next((i for i, (_, t) in enumerate(held) if t == token), None)
            else:
                ident = threading.get_ident()
                chosen = next((i for i, (thread, _) in enumerate(held) if thread == ident), 0)
            if chosen is not None:
                token = held.pop(chosen)[1]
                if not held:
                    del self._mine[resource_id]
            return token

    def held(self) -> set[str]:
        """The resources this object holds (and renews)."""
        return self._renewer.held()

    def close(self) -> None:
        """Stops renewing (held locks lapse after ``lease``; nothing is released)."""
        self._renewer.stop()
