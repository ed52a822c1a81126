"""Concurrency limits: at most ``max_concurrency`` instances with one concurrency key run at once.

A key has ``max_concurrency`` slots, each a named lock of the host's lock provider
(``cc:<definition>:<key>:<n>``): a worker takes a free slot before it runs an instance's steps and gives
it back when it stops (after the pass that completes it, or before the instance sleeps or waits). A slot
is leased like any lock, so a host that dies frees its slots when its lease ends.

An instance that finds every slot taken joins the key's line (``SupportsWaitLists``, in the store,
oldest create time first) and is not run now; a worker giving a slot back queues the first in line.
While older instances wait, a younger one does not take a free slot: it joins the line and hands the
turn to the oldest, so waiting instances start oldest first. Waiting instances stay RUNNABLE, and the
poller queues them again every ``poll_interval`` should a hand-over be missed (a host died between).
One that is gone (purged) or finished by the time its turn comes leaves the line, so it never holds the
turn of those after it.
"""

from __future__ import annotations

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.interfaces import LockProvider, PersistenceProvider, QueueProvider, QueueType, SupportsWaitLists
from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance, WorkflowStatus

log = logger("concurrency")


class ConcurrencySlots:
    def __init__(self, lock: LockProvider, persistence: PersistenceProvider, queue: QueueProvider) -> None:
        self.lock = lock
        self.persistence = persistence
        self.lines = persistence if isinstance(persistence, SupportsWaitLists) else None
        self.queue = queue

    @staticmethod
    def line_of(definition: WorkflowDefinition, key: str) -> str:
        return f"{definition.id}:{key}"

    def take(self, instance: WorkflowInstance, definition: WorkflowDefinition) -> str | None:
        """A slot for ``instance`` (the lock's name), or None if it must wait (it is then in line)."""
        assert instance.concurrency_key is not None and definition.max_concurrency is not None
        line = self.line_of(definition, instance.concurrency_key)
        score = instance.create_time.timestamp()
        if self.lines is not None:
            first = self._first_waiting(line, instance.id)
            if first is not None and first[0] != instance.id and (first[1], first[0]) < (score, instance.id):
                self.lines.add_waiter(line, instance.id, score)
                self.queue.queue_work(first[0], QueueType.WORKFLOW)  # the oldest has the next turn
                return None
        for n in range(definition.max_concurrency):
            slot = f"cc:{line}:{n}"
            if self.lock.acquire_lock(slot):
                if self.lines is not None:
                    self.lines.remove_waiter(line, instance.id)
                return slot
        if self.lines is not None:
            self.lines.add_waiter(line, instance.id, score)
        log.debug("concurrency.waiting", workflow_id=instance.id, key=instance.concurrency_key)
        return None

    def give_back(self, slot: str, instance: WorkflowInstance, definition: WorkflowDefinition) -> None:
        """Release ``slot`` and queue the first instance waiting in its line."""
        self.lock.release_lock(slot)
        if self.lines is None or instance.concurrency_key is None:
            return
        first = self._first_waiting(self.line_of(definition, instance.concurrency_key), instance.id)
        if first is not None:
            self.queue.queue_work(first[0], QueueType.WORKFLOW)

    def _first_waiting(self, line: str, asking: str) -> tuple[str, float] | None:
        """The first in ``line`` (other than ``asking``, taken as waiting) whose instance still waits: one
        purged or finished since it joined leaves the line."""
        assert self.lines is not None
        while True:
            first = self.lines.oldest_waiter(line)
            if first is None or first[0] == asking:
                return first
            found = self.persistence.get_workflow_instances([first[0]])
            if found and found[0].status not in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
                return first
            self.lines.remove_waiter(line, first[0])
            log.info("concurrency.left_line", workflow_id=first[0], line=line)
