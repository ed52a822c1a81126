"""Workflow slots and event roles: how a host bounds what it runs at once, and keeps serving events.

At most ``max_concurrent_workflows`` instances run at once on a host: a workflow worker takes a slot
for every id it dequeues and gives it back when done. An event worker that has just delivered an event,
and still holds the woken instance's lock, runs that instance itself only if a slot is free (the
shortest path from an event to the steps after the wait: no queue, no second lock or load); otherwise
it gives it to the queue.

While it runs one, it does not take events. Should it be the last event worker still taking them, it
hands its event role to a standby thread (a host has as many standby threads as slots), which takes up
the events meanwhile: some thread always serves events, none waits behind a slow step, and in the
common case (other event workers free) no thread is woken for it.
"""

from __future__ import annotations

import threading


class WorkflowSlots:
    def __init__(self, size: int, event_roles: int) -> None:
        self.size = size
        self._free = threading.Semaphore(size)
        self._roles = threading.Semaphore(event_roles)
        self._holds_role = threading.local()
        #: threads holding an event role and not running a woken workflow
        self._consuming = 0
        self._mutex = threading.Lock()
        self._open = True

    # -- slots -------------------------------------------------------------------------------------------
    def take(self) -> bool:
        """Wait for a free slot: True once taken, False if the slots were closed (the host stops)."""
        self._free.acquire()
        if self._open:
            return True
        self._free.release()  # passed on: the next waiter wakes and sees it closed too
        return False

    def take_if_free(self) -> bool:
        """Take a slot if one is free now (and the slots are open); give it back when done."""
        if not self._free.acquire(blocking=False):
            return False
        if self._open:
            return True
        self._free.release()
        return False

    def give_back(self) -> None:
        self._free.release()

    def any_free(self) -> bool:
        """Whether a slot is free now (a glance: it may be taken the moment after)."""
        if not self._free.acquire(blocking=False):
            return False
        self._free.release()
        return True

    # -- event roles -------------------------------------------------------------------------------------
    def take_event_role(self) -> bool:
        """For an event thread: wait until it may serve events (True), or the slots are closed (False)."""
        self._roles.acquire()
        if not self._open:
            self._roles.release()
            return False
        self._holds_role.value = True
        with self._mutex:
            self._consuming += 1
        return True

    def holds_event_role(self) -> bool:
        return bool(getattr(self._holds_role, "value", False))

    def give_back_event_role(self) -> None:
        """An event thread stops serving events (the host stops)."""
        if self.holds_event_role():
            self._holds_role.value = False
            with self._mutex:
                self._consuming -= 1
            self._roles.release()

    def begin_woken_run(self) -> bool | None:
        """The calling event thread runs a woken workflow: it takes no events meanwhile. If it was the
        last one taking them, its role goes to a standby thread (True: take a role again after the run).
        None for a thread without an event role (nothing to do)."""
        if not self.holds_event_role():
            return None
        with self._mutex:
            self._consuming -= 1
            if self._consuming > 0:
                return False
        self._holds_role.value = False
        self._roles.release()
        return True

    def end_woken_run(self, lent: bool | None) -> None:
        if lent is False:
            with self._mutex:
                self._consuming += 1

    def close(self) -> None:
        """The host stops: ``take`` and ``take_event_role`` return False from now on (waiters wake)."""
        self._open = False
        self._free.release()  # wakes a worker waiting in take(), which wakes the next
        self._roles.release()
