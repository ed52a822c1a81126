"""When a waiting instance is due again for a second look at the events published before it subscribed.

A ``wait_for`` pass is stored with its subscription, then the lock holder pulls the events published
before that subscription existed (``WorkflowConsumer.pull_events``): the event consumer marked them
processed, having found no one waiting, so the pull is the only way they reach the instance. Should the
pull never be made (the host died after the store, or the store stayed unreachable past
``persist_retry_timeout``), the instance must not wait for ever. So a write that leaves a wait whose
pull this lock holder has not made also leaves the instance due again at its *recheck time*:
``next_execution`` is brought forward to it, never pushed back. The worker that runs the instance then
first pulls for every open wait whose recheck time has come (:func:`stale_waits`), and its next write,
those waits pulled, leaves ``next_execution`` as the pass made it (``None`` when nothing but events is
awaited). A wait the event ends sooner costs nothing; one that outlives the delay, one load, one pull
and one write.

A wait's recheck time is fixed, so it never slides: ``delay`` after the pass that made the subscription,
or, for a wait made in an earlier run, after its pointer's ``start_time`` (at or before that pass).
A run that starts after it pulls the wait before its first pass, so no write of that run needs to
leave the instance due for it, and nothing is written just to keep it due.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointers import open_pointers
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus, to_millis, utcnow


def open_waits(instance: WorkflowInstance) -> list[ExecutionPointer]:
    """The pointers waiting for an event they have not received."""
    return [
        p
        for p in open_pointers(instance)
        if p.status is PointerStatus.WAITING_FOR_EVENT and p.event_name is not None and not p.event_published
    ]


def _recheck_at(pointer: ExecutionPointer, new: Collection[str], now: datetime, delay: float) -> datetime:
    made = now if pointer.id in new or pointer.start_time is None else pointer.start_time
    return made + timedelta(seconds=delay)


def stale_waits(
    waits: list[ExecutionPointer], pulled: Collection[str], now: datetime, delay: float
) -> list[ExecutionPointer]:
    """Those of the open ``waits`` of a RUNNABLE instance whose recheck time has come and that were not
    pulled yet by this lock holder (``pulled``: the subscription ids it pulled for)."""
    return [p for p in waits if p.id not in pulled and _recheck_at(p, (), now, delay) <= now]


def bring_forward(
    instance: WorkflowInstance, pulled: Collection[str], new: Collection[str], now: datetime, delay: float
) -> int | None:
    """Before a pass is stored: bring ``next_execution`` forward to the earliest recheck time of the open
    waits not in ``pulled`` (``new``: the ids of the subscriptions the pass made). The time it set, if it
    did (epoch milliseconds): the instance is then due again only for a recheck, which the runnable
    poller finds (no timer is needed), and one at or before ``now`` is a wait that came due meanwhile."""
    if instance.status is not WorkflowStatus.RUNNABLE:
        return None
    earliest: datetime | None = None
    for pointer in open_waits(instance):
        if pointer.id in pulled:
            continue
        at = _recheck_at(pointer, new, now, delay)
        if earliest is None or at < earliest:
            earliest = at
    if earliest is None:
        return None
    at_ms = to_millis(earliest)
    if instance.next_execution is not None and instance.next_execution <= at_ms:
        return None
    instance.next_execution = at_ms
    return at_ms


class RunRechecks:
    """One run's rechecks of an instance (its lock held): which of its waits it pulled for, and which to
    pull before the next pass. The waits open when the run began are looked at before its first pass;
    after that, only once a pass found one whose recheck time came meanwhile. An instance that had no
    wait when the run began and made none costs one test per pass."""

    def __init__(self, instance: WorkflowInstance, delay: float) -> None:
        self.delay = delay
        #: the subscription ids this run pulled for
        self.pulled: set[str] = set()
        self._waits = open_waits(instance) if instance.status is WorkflowStatus.RUNNABLE else []
        self._may_wait = bool(self._waits)

    def stale(self) -> list[ExecutionPointer]:
        """The waits to pull for before the next pass."""
        if not self._waits:
            return []
        waits, self._waits = self._waits, []
        return stale_waits(waits, self.pulled, utcnow(), self.delay)

    def before_store(self, instance: WorkflowInstance, result: PassResult) -> bool:
        """:func:`bring_forward` for the pass ``result``; whether the instance is now due only for a
        recheck."""
        if not result.subscriptions and not self._may_wait:
            return False
        self._may_wait = True
        now = utcnow()
        at = bring_forward(instance, self.pulled, {s.id for s in result.subscriptions}, now, self.delay)
        if at is None:
            return False
        if at <= to_millis(now):  # a wait's recheck time came during this run: pulled before the next pass
            self._waits = open_waits(instance)
        return True
