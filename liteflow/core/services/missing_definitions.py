"""Instances a host took without having their definition (a rolling deploy: a client registered a newer
version than this host knows), and what the host does with them: leave them to a host that has it.

Such an instance is not changed. It is handed back to the queue at once, a few times in a row (as many as
this host has workflow workers, and one more: with the built-in FIFO queues, which serve the longest
waiting worker first, it so passes every idle worker of this host and reaches one of another host), then
left alone: the poller of some host queues it again after ``poll_interval``. One log line per instance
per ``poll_interval``, and no retry loop while no host has the definition.
"""

from __future__ import annotations

import threading
import time

from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance

log = logger("workflow_consumer")

#: Most instances remembered (the oldest are forgotten first; a forgotten one is just looked at again).
_MOST_REMEMBERED = 10_000


class MissingDefinitions:
    def __init__(self, window: float, hops: int) -> None:
        self._window = window
        self._hops = hops
        #: workflow id -> [when first seen in this window (monotonic), times handed back since], oldest first
        self._seen: dict[str, list[float]] = {}
        self._mutex = threading.Lock()

    def noted(self, instance: WorkflowInstance) -> None:
        """``instance`` (just loaded) has no definition here: log it, unless already logged in this window."""
        now = time.monotonic()
        with self._mutex:
            self._forget_old(now)
            if instance.id in self._seen:
                return
            self._seen[instance.id] = [now, 0]
        log.error(
            "workflow.definition_missing",
            workflow_id=instance.id,
            definition_id=instance.workflow_definition_id,
            version=instance.version,
            retry_in=self._window,
        )

    def known(self, workflow_id: str) -> bool:
        """Whether ``workflow_id`` was found without a definition in this window (no need to load it)."""
        if not self._seen:
            return False
        with self._mutex:
            seen = self._seen.get(workflow_id)
            if seen is not None and seen[0] <= time.monotonic() - self._window:
                del self._seen[workflow_id]
                return False
            return seen is not None

    def hand_back(self, workflow_id: str) -> bool:
        """Whether to queue ``workflow_id`` again now (for another host to take); False once this window's
        hand-backs are used up (then it waits for a poller)."""
        with self._mutex:
            seen = self._seen.get(workflow_id)
            if seen is None or seen[1] >= self._hops:
                return False
            seen[1] += 1
            return True

    def forget_all(self) -> None:
        """A definition was registered: look at every instance again."""
        with self._mutex:
            self._seen.clear()

    def _forget_old(self, now: float) -> None:
        seen = self._seen
        while seen:
            oldest = next(iter(seen))
            if len(seen) < _MOST_REMEMBERED and seen[oldest][0] > now - self._window:
                return
            del seen[oldest]
