"""The workflow host: the public API users call, and the background services that do the work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace, TracebackType
from typing import Any

from liteflow import tracing
from liteflow.core.broker import Broker
from liteflow.core.builder import WorkflowBuilder
from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.executor import StepMiddleware, WorkflowExecutor
from liteflow.core.engine.limits import apply_limits, concurrency_key_of
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointer_factory import genesis_pointer
from liteflow.core.engine.registry import WorkflowRegistry
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.errors import (
    DefinitionError,
    LiteFlowError,
    ProviderError,
    WorkflowAlreadyExistsError,
    WorkflowNotRegisteredError,
)
from liteflow.core.interfaces import (
    InterruptibleQueue,
    LockProvider,
    PersistenceProvider,
    QueueProvider,
    QueueType,
    SupportsLoadForRun,
    SupportsRevision,
    SupportsSchedules,
)
from liteflow.core.lifecycle import (
    LifecycleEvent,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowTerminated,
)
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.log import logger
from liteflow.core.models import Event, WorkflowInstance, WorkflowStatus, as_utc, new_id, to_millis, utcnow
from liteflow.core.primitives.sub_workflow import announce_completion, ends_child
from liteflow.core.reserved import check_event_name
from liteflow.core.schedules import Schedule, new_schedule
from liteflow.core.serialization import rebuild, type_name, validate_into
from liteflow.core.services import control
from liteflow.core.services.async_runner import AsyncRunner, StepInterrupted
from liteflow.core.services.concurrency import ConcurrencySlots
from liteflow.core.services.event_consumer import EventConsumer
from liteflow.core.services.health import check_providers
from liteflow.core.services.lifecycle_dispatch import LifecycleCallback, LifecycleDispatcher
from liteflow.core.services.options import HostOptions
from liteflow.core.services.poller import RunnablePoller
from liteflow.core.services.retention import EventRetention
from liteflow.core.services.schedule_runner import ScheduleRunner
from liteflow.core.services.scheduler import WakeupScheduler
from liteflow.core.services.slots import WorkflowSlots
from liteflow.core.services.workflow_consumer import WorkflowConsumer
from liteflow.core.visibility import WorkflowQuery, WorkflowVisibility
from liteflow.core.workflow import Workflow

log = logger("host")

WorkflowMiddleware = Callable[[WorkflowInstance], Any]
#: Longest a worker waits before trying a failing provider again (work resumes soon after a store outage).
_MOST_BACKOFF = 1.0
#: How long stop() waits for workers whose async steps it cancelled (they only release their locks).
_INTERRUPTED_JOIN = 2.0
_PLAIN = (dict, list, tuple, str, int, float, bool, type(None), SimpleNamespace)
#: Data stored without a type name (what is stored is what comes back); a SimpleNamespace is named, so it
#: comes back one.
_UNNAMED = (dict, list, tuple, str, int, float, bool, type(None))


class WorkflowHost(WorkflowVisibility):
    """Registers workflows, starts them, publishes events and, once started, executes them.

    A host that was never started is a client: it can do everything but execute, while started hosts
    sharing its providers do the work.
    """

    def __init__(
        self,
        persistence: PersistenceProvider,
        queue: QueueProvider,
        lock: LockProvider,
        options: HostOptions,
        lifecycle_hub: LifecycleHub | None = None,
    ) -> None:
        self.id = new_id()
        self.lifecycle_hub = lifecycle_hub
        self.lifecycle = LifecycleDispatcher(self.id, lifecycle_hub)
        self.persistence = persistence
        self.queue = queue
        self.lock = lock
        self.options = options
        #: the providers' optional abilities (see ``interfaces``), looked up once here
        self.load_for_run: Callable[[str], WorkflowInstance] = (
            persistence.get_workflow_instance_to_run
            if isinstance(persistence, SupportsLoadForRun)
            else persistence.get_workflow_instance
        )
        self.revision_of: Callable[[str], int | None] | None = (
            persistence.get_revision if isinstance(persistence, SupportsRevision) else None
        )
        self._interrupt = queue.interrupt if isinstance(queue, InterruptibleQueue) else None
        self.registry = WorkflowRegistry()
        self.scheduler = WakeupScheduler(queue)
        self.concurrency = ConcurrencySlots(lock, persistence, queue)
        self._async = AsyncRunner()
        #: tukio's broker: handlers on topics; with a lifecycle hub, dispatches reach every host.
        self.broker = Broker(self.id, lifecycle_hub, self._async.loop)
        self._step_middleware: list[StepMiddleware] = []
        self._workflow_middleware: dict[str, list[WorkflowMiddleware]] = {"pre": [], "post": [], "execute": []}
        self.executor = WorkflowExecutor(
            EngineSettings(options.retry_interval, options.default_error_behavior),
            self._async.run,
            self._step_middleware,
            host=self,
            wants_step_events=self.lifecycle.wants_step_events,
        )
        self._processing: dict[str, int] = {}
        #: events that found a workflow locked by this host: workflow id -> event ids (see defer_event)
        self._deferred: dict[str, set[str]] = {}
        self._slots = WorkflowSlots(options.max_concurrent_workflows, options.event_workers)
        self._workflow_consumer: WorkflowConsumer | None = None
        self._changed = threading.Condition()
        #: what wait_for_workflow callers are waiting for: workflow id -> the status last seen here
        self._watched: dict[str, _Watch] = {}
        #: notified whenever a worker of this host applies a status change (see ``services.control``)
        self._control_applied = threading.Condition()
        self.control_follower = control.ControlFollower(self)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._running = False
        self._mutex = threading.Lock()
        tracing.instrument(self)  # spans for every step when OpenTelemetry is installed and configured

    # -- definitions -----------------------------------------------------------------------------------
    def register_workflow(self, workflow: Any) -> WorkflowDefinition:
        """Register a :class:`Workflow` (or a workflow template); raises DefinitionError if invalid."""
        definition = build_definition(workflow)
        self.registry.register(definition)
        if self._workflow_consumer is not None:
            self._workflow_consumer.missing.forget_all()
        on_register = definition.extra.get("on_register")
        if callable(on_register):
            on_register(self)
        return definition

    # -- workflows as data (templates) ---------------------------------------------------------------
    def load(self, template: Any) -> WorkflowDefinition:
        """Load a workflow template (tukio's ``engine.load``): ``register_workflow``, or loading an
        unloaded template again."""
        from liteflow.core.templates.trigger import templates_of

        return templates_of(self).load(template)

    def unload(self, template_id: str) -> bool:
        """Stop starting instances of a template here (running ones finish); False if it was not loaded."""
        from liteflow.core.templates.trigger import templates_of

        return templates_of(self).remove(template_id)

    def reload(self, templates: list[Any]) -> list[WorkflowDefinition]:
        """Load ``templates`` and unload every other template."""
        from liteflow.core.templates.trigger import templates_of

        return templates_of(self).reload(list(templates))

    def cancel(self, template_id: str) -> int:
        """Terminate the running instances of a template (their running tasks are cancelled); how many."""
        from liteflow.core.templates.trigger import templates_of

        return templates_of(self).cancel(template_id)

    def report(self, workflow_id: str) -> dict[str, Any]:
        """The execution report of a template instance: its state and each task's (see templates.report)."""
        from liteflow.core.templates.report import report

        return report(self, workflow_id)

    def data_received(self, data: Any, topic: str | None = None) -> list[str]:
        """Dispatch ``data`` on the broker and start an instance of every loaded template listening to
        ``topic`` (templates without ``topics`` listen to every topic, None included), as their overrun
        policies allow; their ids."""
        from liteflow.core.templates.trigger import templates_of

        return templates_of(self).data_received(data, topic)

    def trigger(self, template_id: str, data: Any) -> str | None:
        """Start an instance of one loaded template; its id, or None if its overrun policy skipped it."""
        from liteflow.core.templates.trigger import templates_of

        return templates_of(self).trigger(template_id, data)

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called (until the next ``start()``): workers take no new pass."""
        return self._stop.is_set()

    @property
    def stop_event(self) -> threading.Event:
        """Set by ``stop()``: what a worker waiting (for a store to answer, say) waits on."""
        return self._stop

    def start(self) -> None:
        """Check once that the persistence, queue and lock answer (ProviderError naming the store that
        does not, within ``start_timeout``), then start the workers; outages after that are ridden through."""
        with self._mutex:
            if self._running:
                return
            roles = (("persistence", self.persistence), ("queue", self.queue), ("lock", self.lock))
            check_providers(roles, self.options.start_timeout)
            self._stop = threading.Event()
            self._slots = WorkflowSlots(self.options.max_concurrent_workflows, self.options.event_workers)
            self.scheduler.start()
            workflow_consumer = self._workflow_consumer = WorkflowConsumer(self)
            event_consumer = EventConsumer(self, workflow_consumer)
            poller = RunnablePoller(self, self._stop)
            self._threads = [
                self._thread(f"liteflow-workflow-{i}", self._work_loop, QueueType.WORKFLOW, workflow_consumer.process)
                for i in range(self.options.max_concurrent_workflows)
            ]
            self._threads += [
                self._thread(f"liteflow-event-{i}", self._work_loop, QueueType.EVENT, event_consumer.process)
                # event_workers serve events; as many more stand by for those running a woken workflow
                for i in range(self.options.event_workers + self.options.max_concurrent_workflows)
            ]
            self._threads.append(self._thread("liteflow-poller", poller.run))
            if self.options.event_retention is not None:
                retention = EventRetention(self, self.options.event_retention, self._stop)
                self._threads.append(self._thread("liteflow-retention", retention.run))
            if isinstance(self.persistence, SupportsSchedules):
                runner = ScheduleRunner(self.persistence, self._start_scheduled, self._stop, self.options.poll_interval)
                self._threads.append(self._thread("liteflow-schedules", runner.run))
            for thread in self._threads:
                thread.start()
            self._running = True
        log.info("host.started", workers=self.options.max_concurrent_workflows)

    def stop(self) -> None:
        """Stop executing: in-flight steps finish (or run again later), locks are released, threads joined."""
        with self._mutex:
            if not self._running:
                return
            self._stop.set()
            self._slots.close()
            if self._interrupt is not None:
                self._interrupt()
            deadline = time.monotonic() + self.options.stop_timeout
            for thread in self._threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    self._warn_still_running(thread)
            alive = [thread for thread in self._threads if thread.is_alive()]
            self._threads = []
            self.scheduler.stop()
            self._async.stop()  # async steps still running are cancelled: they run again later
            deadline = time.monotonic() + _INTERRUPTED_JOIN
            for thread in alive:  # their workers wake, release their locks and end
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self._running = False
        log.info("host.stopped")

    def _warn_still_running(self, thread: threading.Thread) -> None:
        """``stop()`` gave up waiting for ``thread``: say which workflow and step it is still running."""
        context = self.executor.running.get(thread.ident or 0)
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

    def __enter__(self) -> WorkflowHost:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        return threading.Thread(target=target, args=args, name=name, daemon=True)

    def _work_loop(self, queue: QueueType, handle: Callable[[str], None]) -> None:
        backoff = 0.0
        slots = self._slots
        events = queue is QueueType.EVENT
        while not self._stop.is_set():
            if events and not slots.holds_event_role() and not slots.take_event_role():
                break  # a standby thread waits in take_event_role() until a role is free
            try:
                item_id = self.queue.dequeue_work(queue, self.options.idle_wait)
                if item_id is None:
                    continue
                if self._stop.is_set():  # stopping: hand it back rather than start new work
                    self.queue.queue_work(item_id, queue)
                    break
                if events:
                    handle(item_id)
                else:
                    self._run_slotted(item_id, handle)
                backoff = 0.0
            except StepInterrupted:  # stop() cancelled its async step: nothing was stored, it runs again
                log.info("worker.interrupted", queue=queue.value, item_id=item_id)
                break
            except Exception as exc:  # a provider may be away for a while: back off and carry on
                backoff = min(max(backoff * 2, 0.05), _MOST_BACKOFF)
                log.warning("worker.failed", queue=queue.value, error=f"{type(exc).__name__}: {exc}", retry_in=backoff)
                self._stop.wait(backoff)
        slots.give_back_event_role()

    def _run_slotted(self, workflow_id: str, handle: Callable[[str], None]) -> None:
        self.begin_processing(workflow_id)  # from now on: the poller leaves it to this worker
        if not self._slots.take():  # stopping meanwhile
            self.finished_processing(workflow_id)
            self.queue.queue_work(workflow_id, QueueType.WORKFLOW)
            return
        try:
            handle(workflow_id)
        finally:
            self._slots.give_back()
            self.finished_processing(workflow_id)

    def run_woken(self, instance: WorkflowInstance, run_held: Callable[[WorkflowInstance], None]) -> bool:
        """For an event worker holding an instance it woke (locked, just stored): run it now if a
        workflow slot is free (see ``slots``); False if none is (the caller still holds the lock)."""
        slots = self._slots
        if not slots.take_if_free():
            return False
        lent = slots.begin_woken_run()
        self.begin_processing(instance.id)
        try:
            run_held(instance)
        finally:
            slots.give_back()
            slots.end_woken_run(lent)
            self.finished_processing(instance.id)
        return True

    # -- instances -------------------------------------------------------------------------------------
    def start_workflow(
        self,
        definition_id: str,
        version: int | None = None,
        data: Any = None,
        reference: str | None = None,
        workflow_id: str | None = None,
        if_exists: str = "error",
    ) -> str:
        """Start an instance of a registered workflow (``version=None``: the latest); returns its id.

        ``workflow_id`` chooses the instance's id. If an instance with that id exists already, this raises
        :class:`WorkflowAlreadyExistsError`, or with ``if_exists="return"`` returns the id (nothing is
        started); concurrent starts with one id create exactly one instance, on every provider."""
        if if_exists not in ("error", "return"):
            raise ValueError(f"if_exists must be 'error' or 'return', got {if_exists!r}")
        if workflow_id is not None and (not isinstance(workflow_id, str) or not workflow_id):
            raise ValueError(f"workflow_id must be a non-empty string, got {workflow_id!r}")
        try:
            return self.start_instance(definition_id, version, data, reference, workflow_id=workflow_id)
        except WorkflowAlreadyExistsError:
            if if_exists == "return" and workflow_id is not None:
                return workflow_id
            raise

    def start_instance(
        self,
        definition_id: str,
        version: int | None,
        data: Any,
        reference: str | None = None,
        parent_workflow_id: str | None = None,
        workflow_id: str | None = None,
    ) -> str:
        """``start_workflow`` with the parent of a child workflow and, optionally, the new instance's id."""
        definition = self.registry.get(definition_id, version)
        if data is None and definition.data_type is not None:
            data = definition.data_type()
        data = validate_into(data, definition.data_type)  # a dict becomes the data_type, values kept
        now = utcnow()
        instance = WorkflowInstance(
            workflow_definition_id=definition.id,
            version=definition.version,
            description=definition.description,
            reference=None if reference is None else str(reference),
            data=data,
            data_type_name=None if isinstance(data, _UNNAMED) else type_name(type(data)),
            create_time=now,
            next_execution=to_millis(now),
            parent_workflow_id=parent_workflow_id,
            concurrency_key=concurrency_key_of(definition, data),
        )
        if workflow_id is not None:
            instance.id = workflow_id
        if not isinstance(data, _PLAIN):
            self.registry.types.remember(type(data))
        instance.execution_pointers.append(genesis_pointer(definition, now))
        return self.create_instance(instance)

    def create_instance(self, instance: WorkflowInstance) -> str:
        for middleware in self._workflow_middleware["pre"]:
            middleware(instance)
        self.persistence.create_workflow(instance)
        self.emit([WorkflowStarted.of(instance)])
        self.queue.queue_work(instance.id, QueueType.WORKFLOW)
        return instance.id

    def publish_event(
        self, event_name: str, event_key: Any, event_data: Any = None, effective_date: datetime | None = None
    ) -> str:
        """Publish an event; every workflow waiting for (name, key) as of its time receives it. Its id.
        Names starting with ``liteflow.`` are the library's own: a ValueError."""
        check_event_name(event_name)
        return self.publish_engine_event(event_name, event_key, event_data, effective_date)

    def publish_engine_event(
        self, event_name: str, event_key: Any, event_data: Any = None, effective_date: datetime | None = None
    ) -> str:
        """``publish_event`` without the check of reserved names: for the engine's own events."""
        event = Event(
            event_name=event_name,
            event_key=str(event_key),
            event_data=event_data,
            event_time=as_utc(effective_date) or utcnow(),
        )
        self.persistence.create_event(event)
        self.queue.queue_work(event.id, QueueType.EVENT)
        return event.id

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        """A snapshot of the instance (changing it changes nothing stored). WorkflowNotFoundError if unknown."""
        instance = self.persistence.get_workflow_instance(workflow_id)
        self.rebuild_data(instance, self.registry.find(instance.workflow_definition_id, instance.version))
        return instance

    def wait_for_workflow(self, workflow_id: str, timeout: float | None = 30) -> WorkflowInstance:
        """Block until the instance is no longer RUNNABLE; TimeoutError after ``timeout`` seconds
        (``None``: no limit).

        Woken by this host's own progress on the instance (it re-reads the instance only once it has
        settled); progress made by other hosts is seen by re-reading it every quarter second. A read
        that fails (the store briefly away: ProviderError) is tried again, with backoff, until the
        timeout; an unknown id raises WorkflowNotFoundError at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            watch = self._watched.setdefault(workflow_id, _Watch())
            watch.waiters += 1
        try:
            return self._wait(workflow_id, watch, deadline, timeout)
        finally:
            with self._changed:
                watch.waiters -= 1
                if watch.waiters == 0:
                    self._watched.pop(workflow_id, None)

    def _wait(self, workflow_id: str, watch: _Watch, deadline: float | None, timeout: float | None) -> WorkflowInstance:
        status = "unread"
        failure: ProviderError | None = None
        backoff = 0.0
        while True:
            try:
                instance = self.get_workflow_instance(workflow_id)
            except ProviderError as exc:
                if failure is None:
                    log.warning("client.read_failed", workflow_id=workflow_id, error=str(exc))
                failure, backoff = exc, min(max(backoff * 2, 0.05), 1.0)
            else:
                failure, backoff, status = None, 0.0, instance.status.value
                if instance.status is not WorkflowStatus.RUNNABLE and workflow_id not in self._processing:
                    return instance
            with self._changed:
                while failure is not None or not (watch.settled() and workflow_id not in self._processing):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        still = f"could not be read ({failure})" if failure is not None else f"is still {status}"
                        raise TimeoutError(f"workflow {workflow_id} {still} after {timeout}s") from failure
                    pause = backoff if failure is not None else 0.25
                    if not self._changed.wait(pause if remaining is None else min(remaining, pause)):
                        break  # re-read: another host may have moved it on (or the store may be back)

    def suspend_workflow(self, workflow_id: str) -> bool:
        """Suspend a RUNNABLE instance; False if it is finished or suspended already. During a step, the
        step's result is kept and the instance is suspended when the step returns."""
        return control.change_status(self, workflow_id, "suspend")

    def resume_workflow(self, workflow_id: str) -> bool:
        """Resume a SUSPENDED instance; False if it is not suspended."""
        return control.change_status(self, workflow_id, "resume")

    def terminate_workflow(self, workflow_id: str) -> bool:
        """Terminate a RUNNABLE or SUSPENDED instance; False if it is finished. During a step, the step's
        result is kept and the instance is terminated when the step returns."""
        return control.change_status(self, workflow_id, "terminate")

    # -- schedules -------------------------------------------------------------------------------------
    def schedule_workflow(
        self,
        schedule_id: str,
        definition_id: str,
        cron: str | None = None,
        every: timedelta | None = None,
        data: Any = None,
        version: int | None = None,
        timezone: str = "UTC",
    ) -> Schedule:
        """Start ``definition_id`` on a calendar (``cron="0 2 * * *"``, read in ``timezone``) or at a fixed
        rate (``every=timedelta(...)``). Stored, so it survives restarts; started hosts sharing the
        persistence start exactly one instance per due time (reference ``schedule:<id>:<due time>``).
        Scheduling an id again replaces that schedule."""
        self.registry.get(definition_id, version)  # WorkflowNotRegisteredError for a typo, now
        schedule = new_schedule(schedule_id, definition_id, cron, every, data, version, timezone)
        self._schedules().save_schedule(schedule)
        return schedule

    def unschedule_workflow(self, schedule_id: str) -> bool:
        """Remove a schedule (instances it started go on); False if there was none with that id."""
        return self._schedules().delete_schedule(schedule_id)

    def list_schedules(self) -> list[Schedule]:
        """Every stored schedule, with when it is next due."""
        return self._schedules().get_schedules()

    def _schedules(self) -> SupportsSchedules:
        if not isinstance(self.persistence, SupportsSchedules):
            raise LiteFlowError(f"{type(self.persistence).__name__} does not store schedules")
        return self.persistence

    def _start_scheduled(self, schedule: Schedule, due: datetime) -> bool:
        try:
            self.registry.get(schedule.definition_id, schedule.version)
        except WorkflowNotRegisteredError:
            return False  # left for a host that has the definition
        self.start_workflow(
            schedule.definition_id,
            schedule.version,
            schedule.data,
            reference=schedule.reference_for(due),
            workflow_id=schedule.workflow_id_for(due),
            if_exists="return",
        )
        return True

    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        """``list_workflows``: read from the provider's indexes; data is rebuilt as for ``get_workflow_instance``."""
        instances = self.persistence.list_workflows(**query.as_kwargs(), skip=skip, take=take)
        for instance in instances:
            self.rebuild_data(instance, self.registry.find(instance.workflow_definition_id, instance.version))
        return instances

    def count_matching(self, query: WorkflowQuery) -> int:
        return self.persistence.count_workflows(**query.as_kwargs())

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Delete instances in ``status`` that finished (or were created) before ``older_than``."""
        return self.persistence.purge_workflows(status, as_utc(older_than) or utcnow())

    def purge_events(self, older_than: datetime) -> int:
        """Delete processed events published before ``older_than``: they are kept for later waits whose
        as-of time is at or before them, so choose a time no wait will go back to."""
        return self.persistence.purge_events(as_utc(older_than) or utcnow())

    def get_errors(self, workflow_id: str) -> list[Any]:
        """The step failures recorded for an instance."""
        return self.persistence.get_errors(workflow_id)

    # -- extension points ------------------------------------------------------------------------------
    def add_step_middleware(self, middleware: StepMiddleware) -> None:
        """``fn(context, body, next) -> ExecutionResult`` around every step; the first added is outermost."""
        self._step_middleware.append(middleware)

    def add_workflow_middleware(self, phase: str, middleware: WorkflowMiddleware) -> None:
        """``phase``: "pre" (before a workflow starts; raising refuses it), "post" (after it completes)
        or "execute" (after every execution pass)."""
        if phase not in self._workflow_middleware:
            raise ValueError(f"unknown middleware phase {phase!r}: use 'pre', 'post' or 'execute'")
        self._workflow_middleware[phase].append(middleware)

    def has_workflow_middleware(self, phase: str) -> bool:
        return bool(self._workflow_middleware.get(phase))

    def on_lifecycle_event(
        self, callback: LifecycleCallback, *types: type[LifecycleEvent], local_only: bool = False
    ) -> None:
        """Call ``callback(event)`` for every lifecycle event, or only those of the given ``types`` (with a
        ``lifecycle_hub``, other hosts' too, unless ``local_only``); a failing callback is logged, never
        raised. Step events are only made while some callback (or a hub) takes them."""
        self.lifecycle.add(callback, types, local_only)

    def emit(self, events: list[LifecycleEvent]) -> None:
        self.lifecycle.emit(events)

    def close(self) -> None:
        """Stop the host and stop listening to the lifecycle hub (providers are left to their owner)."""
        self.stop()
        self.control_follower.close()
        self.lifecycle.close()
        self.broker.close()

    # -- used by the consumers -------------------------------------------------------------------------
    def rebuild_data(self, instance: WorkflowInstance, definition: WorkflowDefinition | None) -> None:
        """Rebuild JSON workflow data as a class this process knows (never one a document names)."""
        if not self.persistence.stores_json or not isinstance(instance.data, dict):
            return
        target = definition.data_type if definition is not None and definition.data_type is not None else None
        if target is None and instance.data_type_name is not None:
            target = self.registry.types.resolve(instance.data_type_name) or SimpleNamespace
        instance.data = rebuild(instance.data, target)

    def after_pass(self, instance: WorkflowInstance, result: PassResult, before: WorkflowStatus) -> None:
        self.emit(result.events)
        for middleware in self._workflow_middleware["execute"]:
            self._run_middleware("execute", middleware, instance)
        if instance.status is WorkflowStatus.COMPLETE and before is not WorkflowStatus.COMPLETE:
            for middleware in self._workflow_middleware["post"]:
                self._run_middleware("post", middleware, instance)
        if ends_child(instance, before):  # completed or terminated: announced before it was stored
            announce_completion(self, instance, prepared=True)
        self._notify_changed(instance.id, instance.status)

    def _run_middleware(self, phase: str, middleware: WorkflowMiddleware, instance: WorkflowInstance) -> None:
        try:
            middleware(instance)
        except Exception as exc:
            log.warning("middleware.failed", phase=phase, workflow_id=instance.id, error=str(exc))

    def begin_processing(self, workflow_id: str) -> None:
        with self._changed:
            self._processing[workflow_id] = self._processing.get(workflow_id, 0) + 1

    def finished_processing(self, workflow_id: str) -> None:
        deferred: set[str] = set()
        with self._changed:
            count = self._processing.get(workflow_id, 0) - 1
            if count > 0:
                self._processing[workflow_id] = count
            else:
                self._processing.pop(workflow_id, None)
                if self._deferred:
                    deferred = self._deferred.pop(workflow_id, deferred)
            if workflow_id in self._watched:
                self._changed.notify_all()
        for event_id in deferred:  # its lock is released: they can be delivered now
            self.queue.queue_work(event_id, QueueType.EVENT)

    def defer_event(self, workflow_id: str, event_id: str) -> bool:
        """An event found ``workflow_id`` locked: if this host is running it, leave the event to it (it
        takes the event after its pass, or queues it again when done) and return True; else False."""
        with self._changed:
            if workflow_id not in self._processing:
                return False
            self._deferred.setdefault(workflow_id, set()).add(event_id)
            return True

    def take_deferred_events(self, workflow_id: str) -> list[str]:
        """For the worker running ``workflow_id``: the events left to it by ``defer_event``."""
        if not self._deferred:
            return []
        with self._changed:
            return sorted(self._deferred.pop(workflow_id, ()))

    def after_control(self, instance: WorkflowInstance, events: list[LifecycleEvent], queue: bool = True) -> None:
        """After a status change was stored outside a pass (by a caller, or by a worker before a pass:
        ``queue=False``, it runs a resumed instance itself)."""
        self.emit(events)
        if instance.parent_workflow_id is not None and any(isinstance(e, WorkflowTerminated) for e in events):
            announce_completion(self, instance, prepared=True)  # written before the end was stored
        if queue and instance.status is WorkflowStatus.RUNNABLE and any(isinstance(e, WorkflowResumed) for e in events):
            self.queue.queue_work(instance.id, QueueType.WORKFLOW)
        self._notify_changed(instance.id, instance.status)
        self.control_applied()

    def control_applied(self) -> None:
        """Wake the callers of this host waiting for a status change to be applied."""
        with self._control_applied:
            self._control_applied.notify_all()

    def wait_for_control(self, timeout: float) -> None:
        """Wait until a worker of this host applies a status change, or ``timeout`` seconds."""
        with self._control_applied:
            self._control_applied.wait(timeout)

    def processing_ids(self) -> set[str]:
        with self._changed:
            return set(self._processing)

    def _notify_changed(self, workflow_id: str, status: WorkflowStatus) -> None:
        if workflow_id not in self._watched:  # nobody waits for it: no lock, no wake-up
            return
        with self._changed:
            watch = self._watched.get(workflow_id)
            if watch is not None:
                watch.status = status
                self._changed.notify_all()


class _Watch:
    """A workflow some ``wait_for_workflow`` callers wait for, and its status as last seen here."""

    def __init__(self) -> None:
        self.waiters = 0
        self.status: WorkflowStatus | None = None

    def settled(self) -> bool:
        return self.status is not None and self.status is not WorkflowStatus.RUNNABLE


def build_definition(workflow: Any) -> WorkflowDefinition:
    """Turn what ``register_workflow`` was given into a validated definition."""
    to_definition = getattr(workflow, "to_definition", None)
    if callable(to_definition) and not isinstance(workflow, Workflow):
        definition = to_definition()
        assert isinstance(definition, WorkflowDefinition)
        return definition
    if isinstance(workflow, type) and issubclass(workflow, Workflow):
        workflow = workflow()
    if not isinstance(workflow, Workflow):
        raise DefinitionError(f"register_workflow takes a Workflow instance, got {type(workflow).__name__}")
    definition_id, version = workflow.id(), workflow.version()
    if not isinstance(definition_id, str) or not definition_id:
        raise DefinitionError(f"{type(workflow).__name__}.id() must return a non-empty string, got {definition_id!r}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DefinitionError(f"workflow {definition_id!r}: version() must return an int, got {version!r}")
    data_type = workflow.data_type
    if data_type is not None and not isinstance(data_type, type):
        raise DefinitionError(f"workflow {definition_id!r}: data_type must be a class, got {data_type!r}")
    builder = WorkflowBuilder()
    try:
        workflow.build(builder)
        if len(builder.roots) > 1:
            raise DefinitionError("start_with() was called more than once")
        definition = builder.build(definition_id, version, data_type=data_type)
        apply_limits(definition, workflow)
        return definition
    except DefinitionError as exc:
        if str(exc).startswith("workflow "):
            raise
        raise DefinitionError(f"workflow {definition_id!r} version {version}: {exc}") from exc
    except Exception as exc:
        raise DefinitionError(
            f"workflow {definition_id!r} version {version}: build() raised {type(exc).__name__}: {exc}"
        ) from exc
