"""A template's ``timeout``: the instance is terminated that many seconds after it started.

The executor calls :class:`TemplateDeadline` (``definition.extra["pass_hook"]``) before and after running an
instance's pointers: past the deadline, every open pointer is cancelled and the instance ends TERMINATED
with a ``WorkflowTerminated`` whose ``reason`` is ``"timeout"``. After each pass it brings the instance's
``next_execution`` forward to the deadline, so an instance waiting for an event or sleeping is picked up
then, by whichever host polls first (the deadline is stored, so it survives restarts). A task running at
the deadline is stopped by its own time limit (see :mod:`liteflow.core.templates.tasks`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from liteflow.core.engine.executor import cancel_pointer
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointers import open_pointers
from liteflow.core.lifecycle import WorkflowTerminated
from liteflow.core.models import WorkflowInstance, WorkflowStatus, to_millis

#: ``instance.data["ended"]`` of an instance its template's timeout terminated.
ENDED_BY_TIMEOUT = "timeout"


class TemplateDeadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timedelta(seconds=timeout)

    def deadline(self, instance: WorkflowInstance) -> datetime | None:
        return None if instance.create_time is None else instance.create_time + self.timeout

    def check(self, instance: WorkflowInstance, now: datetime, out: PassResult) -> None:
        """Terminate the instance if its deadline has passed."""
        deadline = self.deadline(instance)
        if instance.status is not WorkflowStatus.RUNNABLE or deadline is None or now < deadline:
            return
        for pointer in open_pointers(instance):
            cancel_pointer(pointer, now, out)
        instance.status = WorkflowStatus.TERMINATED
        instance.complete_time = now
        instance.next_execution = None
        if isinstance(instance.data, dict):
            instance.data["ended"] = ENDED_BY_TIMEOUT
        out.events.append(WorkflowTerminated.of(instance, reason="timeout"))

    def after(self, instance: WorkflowInstance) -> None:
        """Run the instance again at its deadline at the latest."""
        deadline = self.deadline(instance)
        if instance.status is not WorkflowStatus.RUNNABLE or deadline is None:
            return
        at = to_millis(deadline)
        if instance.next_execution is None or instance.next_execution > at:
            instance.next_execution = at


__all__ = ["ENDED_BY_TIMEOUT", "TemplateDeadline"]
