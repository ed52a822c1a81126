"""The signal a host's workers give when they apply a status change (see ``services.control``): callers
waiting for their request to be applied, and the control follower, wake on it instead of polling."""

from __future__ import annotations

import threading


class ControlSignal:
    def __init__(self) -> None:
        self._applied = threading.Condition()

    def applied(self) -> None:
        """Wake whoever waits for a status change to be applied on this host."""
        with self._applied:
            self._applied.notify_all()

    def wait(self, timeout: float) -> None:
        """Wait until a worker of this host applies a status change, or ``timeout`` seconds."""
        with self._applied:
            self._applied.wait(timeout)
