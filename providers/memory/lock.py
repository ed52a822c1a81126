"""In-process named locks with a lease (renewed while held, like the distributed ones)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from liteflow.core.lease import Hold, LeasedLocks
from liteflow.providers.memory.health import InProcessHealth


class MemoryLockProvider(LeasedLocks, InProcessHealth):
    """Locks shared by every provider object made with the same ``registry`` (by default: just this one).

    Each acquisition has its own token (see :class:`~liteflow.core.lease.LeasedLocks`); a lock whose
    lease lapsed (its holder stopped renewing) can be taken by anyone, another worker of the same
    provider object included, and the first holder's release then leaves it alone.
    """

    def __init__(self, lease: float = 30.0, registry: dict[str, tuple[str, float]] | None = None) -> None:
        super().__init__(lease, name="liteflow-memory-lease")
        #: resource -> (token, expiry on the monotonic clock)
        self._locks: dict[str, tuple[str, float]] = {} if registry is None else registry
        self._mutex = threading.Lock()

    def _take(self, resource_id: str, token: str) -> bool:
        now = time.monotonic()
        with self._mutex:
            held = self._locks.get(resource_id)
            if held is not None and held[1] > now and held[0] != token:
                return False
            self._locks[resource_id] = (token, now + self.lease)
        return True

    def _renew(self, holds: Sequence[Hold]) -> list[bool]:
        now = time.monotonic()
        answers = []
        with self._mutex:
            for resource_id, token in holds:
                held = self._locks.get(resource_id)
                ok = held is None or held[0] == token or held[1] <= now  # gone (lapsed): set again
                if ok:
                    self._locks[resource_id] = (token, now + self.lease)
                answers.append(ok)
        return answers

    def _free(self, resource_id: str, token: str) -> bool:
        with self._mutex:
            held = self._locks.get(resource_id)
            if held is None or held[0] != token:
                return False
            del self._locks[resource_id]
            return True


#: Workflow Core's name for the built-in single-node lock manager.
LocalLockProvider = MemoryLockProvider
