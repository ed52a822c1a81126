"""In-process named locks with a lease (renewed while held, like the distributed ones)."""

from __future__ import annotations

import threading
import time

from liteflow.core.lease import LeaseRenewer
from liteflow.core.models import new_id
from liteflow.providers.memory.health import InProcessHealth


class MemoryLockProvider(InProcessHealth):
    """Locks shared by every provider object made with the same ``registry`` (by default: just this one).

    Each provider object owns the locks it took; a lock whose lease lapsed (its owner stopped renewing)
    can be taken by another owner.
    """

    def __init__(self, lease: float = 30.0, registry: dict[str, tuple[str, float]] | None = None) -> None:
        self.lease = lease
        self._locks: dict[str, tuple[str, float]] = {} if registry is None else registry
        self._mutex = threading.Lock()
        self._token = new_id()
        self._renewer = LeaseRenewer(lease, self._renew, name="liteflow-memory-lease")

    def acquire_lock(self, resource_id: str) -> bool:
        now = time.monotonic()
        with self._mutex:
            held = self._locks.get(resource_id)
            if held is not None and held[1] > now and held[0] != self._token:
                return False
            if held is not None and held[0] == self._token and held[1] > now:
                return False  # not re-entrant: one holder, one execution
            self._locks[resource_id] = (self._token, now + self.lease)
        self._renewer.hold(resource_id)
        return True

    def _renew(self, resource_id: str) -> bool:
        with self._mutex:
            held = self._locks.get(resource_id)
            if held is None or held[0] != self._token:
                return False
            self._locks[resource_id] = (self._token, time.monotonic() + self.lease)
            return True

    def release_lock(self, resource_id: str) -> None:
        self._renewer.forget(resource_id)
        with self._mutex:
            held = self._locks.get(resource_id)
            if held is not None and held[0] == self._token:
                del self._locks[resource_id]

    def close(self) -> None:
        self._renewer.stop()


#: Workflow Core's name for the built-in single-node lock manager.
LocalLockProvider = MemoryLockProvider
