"""The threads of a started host: workflow and event workers, the poller, event retention, schedules.

``start`` makes the consumers and the threads that feed them; ``stop`` lets in-flight steps finish (or
run again later), releases locks and joins the threads. A host that is never started (a client) has a
``Workers`` that never made a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from liteflow.core.interfaces import QueueType, SupportsSchedules
from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance
from liteflow.core.services.async_runner import StepInterrupted
from liteflow.core.services.event_consumer import EventConsumer
from liteflow.core.services.event_intake import EventIntake, ReadEvent
from liteflow.core.services.poller import RunnablePoller
from liteflow.core.services.retention import EventRetention
from liteflow.core.services.runtime import Runtime
from liteflow.core.services.schedule_runner import ScheduleRunner
from liteflow.core.services.slots import WorkflowSlots
from liteflow.core.services.workflow_consumer import WorkflowConsumer

log = logger("host")

#: Longest a worker waits before trying a failing provider again (work resumes soon after a store outage).
_MOST_BACKOFF = 1.0
#: How long stop() waits for workers whose async steps it cancelled (they only release their locks).
_INTERRUPTED_JOIN = 2.0


class Workers:
    """The threads of a started host: workflow and event workers on the queue, the poller, and the
    schedule and retention runners; the slots that bound how many workflows run at once."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        options = runtime.options
        self.slots = WorkflowSlots(options.max_concurrent_workflows, options.event_workers)
        #: the running workflow consumer (None until started): ``register_workflow`` tells it of new ones
        self.workflow_consumer: WorkflowConsumer | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        runtime, options = self.runtime, self.runtime.options
        stop = runtime.stop_event = threading.Event()
        self.slots = WorkflowSlots(options.max_concurrent_workflows, options.event_workers)
        runtime.scheduler.start()
        workflow_consumer = self.workflow_consumer = WorkflowConsumer(runtime)
        event_consumer = EventConsumer(runtime, workflow_consumer, self.run_woken)
        intake = EventIntake(runtime, options.event_batch)
        poller = RunnablePoller(runtime, stop)
        self._threads = [
            self._thread(f"liteflow-workflow-{i}", self._work_loop, QueueType.WORKFLOW, workflow_consumer.process)
            for i in range(options.max_concurrent_workflows)
        ]
        self._threads += [
            self._thread(f"liteflow-event-{i}", self._event_loop, intake, event_consumer.deliver)
            # event_workers serve events; as many more stand by for those running a woken workflow
            for i in range(options.event_workers + options.max_concurrent_workflows)
        ]
        self._threads.append(self._thread("liteflow-poller", poller.run))
        if options.event_retention is not None:
            retention = EventRetention(runtime, options.event_retention, stop)
            self._threads.append(self._thread("liteflow-retention", retention.run))
        if isinstance(runtime.persistence, SupportsSchedules):
            runner = ScheduleRunner(runtime.persistence, runtime.starter.start_scheduled, stop, options.poll_interval)
            self._threads.append(self._thread("liteflow-schedules", runner.run))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        runtime = self.runtime
        runtime.stop_event.set()
        self.slots.close()
        if runtime.interrupt is not None:
            runtime.interrupt()
        deadline = time.monotonic() + runtime.options.stop_timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self._warn_still_running(thread)
        alive = [thread for thread in self._threads if thread.is_alive()]
        self._threads = []
        runtime.scheduler.stop()
        runtime.async_runner.stop()  # async steps still running are cancelled: they run again later
        deadline = time.monotonic() + _INTERRUPTED_JOIN
        for thread in alive:  # their workers wake, release their locks and end
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _warn_still_running(self, thread: threading.Thread) -> None:
        """``stop()`` gave up waiting for ``thread``: say which workflow and step it is still running."""
        context = self.runtime.executor.running.get(thread.ident or 0)
        if context is None:
            log.warning("host.stop_timeout", thread=thread.name)
            return
        log.warning(
            "host.stop_timeout",
            thread=thread.name,
            workflow_id=context.workflow.id,
            definition_id=context.workflow.workflow_definition_id,
            step_id=context.step.id,
            step=context.step.display_name,
            pointer_id=context.execution_pointer.id,
        )

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        return threading.Thread(target=target, args=args, name=name, daemon=True)

    def _work_loop(self, queue: QueueType, handle: Callable[[str], None]) -> None:
        """A workflow worker: take an id off the queue, run it on a slot."""
        runtime = self.runtime
        work = runtime.queue
        backoff = 0.0
        while not runtime.stop_event.is_set():
            try:
                item_id = work.dequeue_work(queue, runtime.options.idle_wait)
                if item_id is None:
                    continue
                if runtime.stop_event.is_set():  # stopping: hand it back rather than start new work
                    work.queue_work(item_id, queue)
                    break
                self._run_slotted(item_id, handle)
                backoff = 0.0
            except StepInterrupted:  # stop() cancelled its async step: nothing was stored, it runs again
                log.info("worker.interrupted", queue=queue.value, item_id=item_id)
                break
            except Exception as exc:  # a provider may be away for a while: back off and carry on
                backoff = self._back_off(queue, backoff, exc)

    def _event_loop(self, intake: EventIntake, deliver: Callable[[ReadEvent, bool], None]) -> None:
        """An event worker: while it holds an event role, take events off the queue and deliver them."""
        runtime = self.runtime
        slots = self.slots
        backoff = 0.0
        while not runtime.stop_event.is_set():
            if not slots.holds_event_role() and not slots.take_event_role():
                break  # a standby thread waits in take_event_role() until a role is free
            reads: list[ReadEvent] = []
            done = 0  # delivered (or failed): the rest go back to the queue
            failure: Exception | None = None
            interrupted = False
            try:
                reads = intake.take(runtime.options.idle_wait, batch=not slots.any_free())
                for read in reads:
                    if runtime.stop_event.is_set():  # stopping: hand them back rather than start new work
                        break
                    last = done == len(reads) - 1
                    if not last and slots.any_free():  # its workflow may run here: the rest go back first,
                        intake.queue_again([r.event.id for r in reads[done + 1 :]])  # to wait behind no step
                        del reads[done + 1 :]
                        last = True
                    done += 1
                    deliver(read, last)  # while the slots are busy, the workflows woken are queued
                backoff = 0.0
            except StepInterrupted:  # stop() cancelled its async step: nothing was stored, it runs again
                log.info("worker.interrupted", queue=QueueType.EVENT.value, item_id=reads[done - 1].event.id)
                interrupted = True
            except Exception as exc:  # the one that failed is left to the poller (it is still unprocessed)
                failure = exc
            intake.queue_again([read.event.id for read in reads[done:]])
            if interrupted:
                break
            if failure is not None:
                backoff = self._back_off(QueueType.EVENT, backoff, failure)
        slots.give_back_event_role()

    def _back_off(self, queue: QueueType, backoff: float, exc: Exception) -> float:
        """A provider may be away for a while: wait a little longer each time, then carry on."""
        backoff = min(max(backoff * 2, 0.05), _MOST_BACKOFF)
        log.warning("worker.failed", queue=queue.value, error=f"{type(exc).__name__}: {exc}", retry_in=backoff)
        self.runtime.stop_event.wait(backoff)
        return backoff

    def _run_slotted(self, workflow_id: str, handle: Callable[[str], None]) -> None:
        in_progress = self.runtime.in_progress
        in_progress.begin(workflow_id)  # from now on: the poller leaves it to this worker
        if not self.slots.take():  # stopping meanwhile
            in_progress.finished(workflow_id)
            self.runtime.queue.queue_work(workflow_id, QueueType.WORKFLOW)
            return
        try:
            handle(workflow_id)
        finally:
            self.slots.give_back()
            in_progress.finished(workflow_id)

    def run_woken(self, instance: WorkflowInstance, run_held: Callable[[WorkflowInstance], None]) -> bool:
        """For an event worker holding an instance it woke (locked, just stored): run it now if a
        workflow slot is free (see ``slots``); False if none is (the caller still holds the lock)."""
        slots = self.slots
        if not slots.take_if_free():
            return False
        lent = slots.begin_woken_run()
        in_progress = self.runtime.in_progress
        in_progress.begin(instance.id)
        try:
            run_held(instance)
        finally:
            slots.give_back()
            slots.end_woken_run(lent)
            in_progress.finished(instance.id)
        return True
