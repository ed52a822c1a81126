"""Event retention: a started host with ``event_retention`` set deletes processed events older than that.

Events are kept after they are processed because a later wait whose as-of time is at or before an event
still receives it (SPEC "Semantics that must hold"); so they are never deleted unless the user says how
far back waits may look. Each round deletes at most :data:`ROUND_LIMIT` events (one bounded call to the
provider), every ``purge_interval`` seconds, or one second after a round that found a full batch (a
backlog drains without one round doing unbounded work). Several hosts may each run it: deleting an
event twice is harmless.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from liteflow.core.log import logger
from liteflow.core.models import utcnow
from liteflow.core.services.runtime import Runtime

log = logger("retention")

#: Most events deleted in one round.
ROUND_LIMIT = 1000
#: Pause before the next round when a round deleted a full batch.
_BACKLOG_PAUSE = 1.0


class EventRetention:
    def __init__(self, runtime: Runtime, retention: timedelta, stop: threading.Event) -> None:
        self.runtime = runtime
        self.retention = retention
        self.stop = stop

    def purge_once(self) -> int:
        """One round: processed events older than the retention, at most ROUND_LIMIT of them."""
        deleted = self.runtime.persistence.purge_events(utcnow() - self.retention, limit=ROUND_LIMIT)
        if deleted:
            log.info("events.purged", deleted=deleted, retention_s=self.retention.total_seconds())
        return deleted

    def run(self) -> None:
        while not self.stop.is_set():
            pause = self.runtime.options.purge_interval
            try:
                if self.purge_once() >= ROUND_LIMIT:
                    pause = min(pause, _BACKLOG_PAUSE)
            except Exception as exc:  # the store may be away for a while: try again next round
                log.warning("events.purge_failed", error=f"{type(exc).__name__}: {exc}")
            self.stop.wait(pause)
