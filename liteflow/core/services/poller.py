"""The runnable poller: every ``poll_interval``, re-queue work that was missed.

Normal work never waits for it (queues are blocking, sleepers have timers). It recovers what a timer or
queue could not carry: sleepers of a host that died, items lost from a queue, events that came due.

Its cost per poll stays small with a backlog: a queue provider with the batch ability
(:class:`~liteflow.core.interfaces.BatchQueueProvider`, both built-in ones) is handed the due ids in
one call (a script call per thousand ids on Redis) and skips those already queued, and one poll hands
back at most ``MOST_PER_POLL`` ids of each kind, oldest due first (the rest are behind queued work).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from liteflow.core.interfaces import BatchQueueProvider, QueueType
from liteflow.core.log import logger
from liteflow.core.models import utcnow
from liteflow.core.services.runtime import Runtime

log = logger("poller")

#: Most ids of each kind (instances, events) one poll queues again.
MOST_PER_POLL = 10_000


class RunnablePoller:
    def __init__(self, runtime: Runtime, stop: threading.Event | None) -> None:
        self.runtime = runtime
        self.stop = stop if stop is not None else threading.Event()
        self._batch = runtime.queue if isinstance(runtime.queue, BatchQueueProvider) else None

    def poll_once(self) -> None:
        runtime = self.runtime
        now = utcnow()
        busy = runtime.in_progress.ids()
        persistence = runtime.persistence
        due = [workflow_id for workflow_id in persistence.get_runnable_instances(now) if workflow_id not in busy]
        self._queue(due[:MOST_PER_POLL], QueueType.WORKFLOW)
        self._queue(persistence.get_runnable_events(now)[:MOST_PER_POLL], QueueType.EVENT)

    def _queue(self, item_ids: Sequence[str], queue: QueueType) -> None:
        if not item_ids:
            return
        if self._batch is not None:
            self._batch.queue_work_many(item_ids, queue)
            return
        for item_id in item_ids:
            self.runtime.queue.queue_work(item_id, queue)

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("poller.failed", error=f"{type(exc).__name__}: {exc}", failures=failures)
            self.stop.wait(self.runtime.options.poll_interval)
