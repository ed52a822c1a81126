"""The runnable poller: every ``poll_interval``, re-queue work that was missed.

Normal work never waits for it (queues are blocking, sleepers have timers). It recovers what a timer or
queue could not carry: sleepers of a host that died, items lost from a queue, events that came due.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from liteflow.core.interfaces import QueueType
from liteflow.core.log import logger
from liteflow.core.models import utcnow

if TYPE_CHECKING:
    from liteflow.core.services.host import WorkflowHost

log = logger("poller")


class RunnablePoller:
    def __init__(self, host: WorkflowHost, stop: threading.Event) -> None:
        self.host = host
        self.stop = stop

    def poll_once(self) -> None:
        host = self.host
        now = utcnow()
        busy = host.processing_ids()
        for workflow_id in host.persistence.get_runnable_instances(now):
            if workflow_id not in busy:
                host.queue.queue_work(workflow_id, QueueType.WORKFLOW)
        for event_id in host.persistence.get_runnable_events(now):
            host.queue.queue_work(event_id, QueueType.EVENT)

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("poller.failed", error=f"{type(exc).__name__}: {exc}", failures=failures)
            self.stop.wait(self.host.options.poll_interval)
