"""Instances a host took without having their definition (a rolling deploy: a client registered a newer
version than this host knows), and what the host does with them: leave them to a host that has it.

Such an instance is not changed, nor loaded again while it is remembered here. It is handed back to the
queue by the timer thread (not by the worker, which would take it straight back ahead of the longest
waiting worker, the one the queue serves): at once as many times as this host has workflow workers and
one more (with the built-in FIFO queues it so passes every idle worker of this host and reaches one of
another host), then after 10 ms, 20 ms, ... doubling up to ``poll_interval``; after that only the poller
queues it again (every ``poll_interval``, as long as it is due). So no retry loop while no host has the
definition, and one ``workflow.definition_missing`` line per instance per ``poll_interval`` at most.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance

log = logger("workflow_consumer")

#: Most instances remembered (the oldest are forgotten first; a forgotten one is just loaded again).
_MOST_REMEMBERED = 10_000
#: The first delayed hand-back.
_FIRST_DELAY = 0.01


@dataclass
class _Seen:
    definition_id: str
    version: int
    logged: float  # monotonic time of the last log line
    last_seen: float
    hand_backs: int = 0


class MissingDefinitions:
    def __init__(self, poll_interval: float, burst: int) -> None:
        self._window = poll_interval
        self._burst = burst
        #: workflow id -> what is known of it, least recently seen first
        self._seen: dict[str, _Seen] = {}
        self._mutex = threading.Lock()

    def noted(self, instance: WorkflowInstance) -> None:
        """``instance`` (just loaded) has no definition here."""
        now = time.monotonic()
        with self._mutex:
            self._forget_old(now)
            seen = self._seen.pop(instance.id, None)
            if seen is None:
                seen = _Seen(
                    instance.workflow_definition_id, instance.version, logged=now - self._window, last_seen=now
                )
            self._seen[instance.id] = seen
        self._log(instance.id, seen, now)

    def known(self, workflow_id: str) -> bool:
        """Whether ``workflow_id`` was found without a definition lately (then it need not be loaded)."""
        if not self._seen:
            return False
        now = time.monotonic()
        with self._mutex:
            seen = self._seen.pop(workflow_id, None)
            if seen is None or seen.last_seen < now - 2 * self._window:
                return False
            seen.last_seen = now
            self._seen[workflow_id] = seen
        self._log(workflow_id, seen, now)
        return True

    def hand_back_delay(self, workflow_id: str) -> float | None:
        """In how many seconds to queue ``workflow_id`` again, for a host that has its definition; None
        once the hand-backs are used up (the poller queues it from then on)."""
        with self._mutex:
            seen = self._seen.get(workflow_id)
            if seen is None:
                return None
            seen.hand_backs += 1
            doublings = seen.hand_backs - self._burst - 1
        if doublings < 0:
            return 0.0
        delay = _FIRST_DELAY * 2 ** min(doublings, 40)
        return delay if delay <= self._window else None

    def forget_all(self) -> None:
        """A definition was registered: load every instance again."""
        with self._mutex:
            self._seen.clear()

    def _log(self, workflow_id: str, seen: _Seen, now: float) -> None:
        with self._mutex:
            if seen.logged > now - self._window:
                return
            seen.logged = now
        log.error(
            "workflow.definition_missing",
            workflow_id=workflow_id,
            definition_id=seen.definition_id,
            version=seen.version,
            left_for_hosts_that_have_it=True,
        )

    def _forget_old(self, now: float) -> None:
        seen = self._seen
        while seen:
            oldest = next(iter(seen))
            if len(seen) < _MOST_REMEMBERED and seen[oldest].last_seen >= now - 2 * self._window:
                return
            del seen[oldest]
