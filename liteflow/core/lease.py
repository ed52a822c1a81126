"""Keeping lock leases alive: a background timer that renews every lock its owner still holds.

Both lock providers use it: a lock taken for a workflow stays held however long a step runs, and lapses
only when the process holding it dies or stalls for longer than the lease.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from liteflow.core.log import logger

log = logger("lease")


class LeaseRenewer:
    """Calls ``renew(resource_id)`` for every held resource every ``lease / 3`` seconds.

    ``renew`` returns False when the lock was lost (it lapsed and someone else took it); the resource is
    then forgotten and logged.
    """

    def __init__(self, lease: float, renew: Callable[[str], bool], name: str = "liteflow-lease") -> None:
        self.lease = lease
        self._renew = renew
        #: resource -> the hold it was renewed for (a new one each time it is taken)
        self._held: dict[str, object] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name

    # Every worker thread takes and releases a lock per workflow it runs: setting and popping a dictionary
    # entry are single steps for the interpreter and need no mutex (one shared mutex here made the workers
    # queue up behind each other); only starting the renewal thread does.
    def hold(self, resource_id: str) -> None:
        self._held[resource_id] = object()
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._mutex:
                if self._thread is None or not self._thread.is_alive():
                    self._stop.clear()
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()

    def forget(self, resource_id: str) -> None:
        self._held.pop(resource_id, None)

    def held(self) -> set[str]:
        return set(self._held)

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 3):
            for resource_id, hold in list(self._held.items()):
                try:
                    ok = self._renew(resource_id)
                except Exception as exc:  # the service may be briefly away: try again next round
                    log.warning("lock.renew_failed", resource=resource_id, error=str(exc))
                    continue
                # lost, unless released meanwhile (and perhaps taken again: a new hold, renewed next round)
                if not ok and self._held.get(resource_id) is hold:
                    self._held.pop(resource_id, None)
                    log.warning("lock.lost", resource=resource_id)

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
