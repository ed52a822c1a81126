"""Starting the instances of due schedules: a thread of every started host.

Each round reads the stored schedules, starts an instance for each one that is due and this host has
the definition of, and claims the due time (see ``SupportsSchedules.claim_schedule``). The instance's
id is derived from the schedule and the due time, and a start with an id that exists returns the
existing one, so a host that started an instance and died before claiming, or two hosts racing for one
due time, still make one instance per due time. Between rounds the thread sleeps until the earliest
due time, or ``poll_interval`` (so schedules added by other hosts are seen), whichever comes first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from liteflow.core.interfaces import SupportsSchedules
from liteflow.core.log import logger
from liteflow.core.models import utcnow
from liteflow.core.schedules import Schedule

log = logger("schedules")

#: ``start(schedule, due)``: start the schedule's instance for ``due`` (idempotent); False if this host
#: cannot (it lacks the definition), so the due time is left for a host that can.
StartScheduled = Callable[[Schedule, datetime], bool]


class ScheduleRunner:
    def __init__(
        self, store: SupportsSchedules, start: StartScheduled, stop: threading.Event, poll_interval: float
    ) -> None:
        self.store = store
        self.start = start
        self.stop = stop
        self.poll_interval = poll_interval

    def run_once(self, now: datetime | None = None) -> float:
        """One round; returns how many seconds until the next schedule is due (at most ``poll_interval``)."""
        now = now or utcnow()
        wait = self.poll_interval
        for schedule in self.store.get_schedules():
            due = schedule.next_run_time
            if due > now:
                wait = min(wait, (due - now).total_seconds())
                continue
            try:
                if not self.start(schedule, due):
                    continue
            except Exception as exc:  # e.g. the store is away: the due time stays unclaimed, tried again
                log.warning("schedule.start_failed", schedule_id=schedule.id, due=due.isoformat(), error=str(exc))
                continue
            next_due = schedule.due_after(now)
            if self.store.claim_schedule(schedule.id, due, next_due):
                log.info("schedule.started", schedule_id=schedule.id, due=due.isoformat(), next=next_due.isoformat())
            wait = min(wait, max((next_due - now).total_seconds(), 0.0))
        return wait

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                wait = self.run_once()
            except Exception as exc:
                log.warning("schedule.round_failed", error=f"{type(exc).__name__}: {exc}")
                wait = self.poll_interval
            self.stop.wait(max(wait, 0.001))
