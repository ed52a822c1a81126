"""The workflow host: the public API users call, and the background services that do the work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace, TracebackType
from typing import Any

from liteflow.core.builder import WorkflowBuilder
from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.executor import StepMiddleware, WorkflowExecutor
from liteflow.core.engine.outcome import PassResult
from liteflow.core.engine.pointer_factory import genesis_pointer
from liteflow.core.engine.registry import WorkflowRegistry
from liteflow.core.engine.settings import EngineSettings
from liteflow.core.errors import DefinitionError
from liteflow.core.interfaces import LockProvider, PersistenceProvider, QueueProvider, QueueType
from liteflow.core.lifecycle import (
    LifecycleEvent,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowSuspended,
    WorkflowTerminated,
)
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.log import logger
from liteflow.core.models import Event, WorkflowInstance, WorkflowStatus, as_utc, new_id, to_millis, utcnow
from liteflow.core.reserved import check_event_name
from liteflow.core.serialization import rebuild, type_name, validate_into
from liteflow.core.services import control
from liteflow.core.services.async_runner import AsyncRunner
from liteflow.core.services.event_consumer import EventConsumer
from liteflow.core.services.lifecycle_dispatch import LifecycleCallback, LifecycleDispatcher
from liteflow.core.services.options import HostOptions
from liteflow.core.services.poller import RunnablePoller
from liteflow.core.services.scheduler import WakeupScheduler
from liteflow.core.services.workflow_consumer import WorkflowConsumer
from liteflow.core.workflow import Workflow

log = logger("host")

WorkflowMiddleware = Callable[[WorkflowInstance], Any]
_PLAIN = (dict, list, tuple, str, int, float, bool, type(None), SimpleNamespace)
#: Data stored without a type name (what is stored is what comes back); a SimpleNamespace is named, so it
#: comes back one.
_UNNAMED = (dict, list, tuple, str, int, float, bool, type(None))


class WorkflowHost:
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
        self.registry = WorkflowRegistry()
        self.scheduler = WakeupScheduler(queue)
        self._async = AsyncRunner()
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
        self._changed = threading.Condition()
        #: what wait_for_workflow callers are waiting for: workflow id -> the status last seen here
        self._watched: dict[str, _Watch] = {}
        self._control_requests: dict[str, control.ControlRequest] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._running = False
        self._mutex = threading.Lock()

    # -- definitions -----------------------------------------------------------------------------------
    def register_workflow(self, workflow: Any) -> WorkflowDefinition:
        """Register a :class:`Workflow` (or a workflow template); raises DefinitionError if invalid."""
        definition = build_definition(workflow)
        self.registry.register(definition)
        on_register = definition.extra.get("on_register")
        if callable(on_register):
            on_register(self)
        return definition

    # -- workflows as data (templates) ---------------------------------------------------------------
    def load(self, template: Any) -> WorkflowDefinition:
        """Load a workflow template (tukio's ``engine.load``): the same as ``register_workflow``."""
        return self.register_workflow(template)

    def data_received(self, data: Any, topic: str | None = None) -> list[str]:
        """Start an instance of every loaded template listening to ``topic`` (all templates without
        ``topics`` listen to every topic, None included), as their overrun policies allow; their ids."""
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

    def start(self) -> None:
        with self._mutex:
            if self._running:
                return
            self._stop = threading.Event()
            self.scheduler.start()
            workflow_consumer = WorkflowConsumer(self)
            event_consumer = EventConsumer(self, workflow_consumer)
            poller = RunnablePoller(self, self._stop)
            self._threads = [
                self._thread(f"liteflow-workflow-{i}", self._work_loop, QueueType.WORKFLOW, workflow_consumer.process)
                for i in range(self.options.max_concurrent_workflows)
            ]
            self._threads += [
                self._thread(f"liteflow-event-{i}", self._work_loop, QueueType.EVENT, event_consumer.process)
                for i in range(self.options.event_workers)
            ]
            self._threads.append(self._thread("liteflow-poller", poller.run))
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
            interrupt = getattr(self.queue, "interrupt", None)
            if callable(interrupt):
                interrupt()
            deadline = time.monotonic() + self.options.stop_timeout
            for thread in self._threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.warning("host.stop_timeout", thread=thread.name)
            self._threads = []
            self.scheduler.stop()
            self._async.stop()
            self._running = False
        log.info("host.stopped")

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
        while not self._stop.is_set():
            try:
                item_id = self.queue.dequeue_work(queue, self.options.idle_wait)
                if item_id is None:
                    continue
                if self._stop.is_set():  # stopping: hand it back rather than start new work
                    self.queue.queue_work(item_id, queue)
                    break
                if queue is QueueType.WORKFLOW:
                    self.begin_processing(item_id)
                    try:
                        handle(item_id)
                    finally:
                        self.finished_processing(item_id)
                else:
                    handle(item_id)
                backoff = 0.0
            except Exception as exc:  # a provider may be away for a while: back off and carry on
                backoff = min(max(backoff * 2, 0.05), 5.0)
                log.warning("worker.failed", queue=queue.value, error=f"{type(exc).__name__}: {exc}", retry_in=backoff)
                self._stop.wait(backoff)

    # -- instances -------------------------------------------------------------------------------------
    def start_workflow(
        self, definition_id: str, version: int | None = None, data: Any = None, reference: str | None = None
    ) -> str:
        """Start an instance of a registered workflow (``version=None``: the latest); returns its id."""
        return self.start_instance(definition_id, version, data, reference)

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

    def wait_for_workflow(self, workflow_id: str, timeout: float = 30) -> WorkflowInstance:
        """Block until the instance is no longer RUNNABLE; TimeoutError after ``timeout`` seconds.

        Woken by this host's own progress on the instance (it re-reads the instance only once it has
        settled); progress made by other hosts is seen by re-reading it every quarter second.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            watch = self._watched.setdefault(workflow_id, _Watch())
            watch.waiters += 1
        try:
            while True:
                instance = self.get_workflow_instance(workflow_id)
                if instance.status is not WorkflowStatus.RUNNABLE and workflow_id not in self._processing:
                    return instance
                with self._changed:
                    while not (watch.settled() and workflow_id not in self._processing):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError(
                                f"workflow {workflow_id} is still {instance.status.value} after {timeout}s"
                            )
                        if not self._changed.wait(min(remaining, 0.25)):
                            break  # re-read: another host may have moved it on
        finally:
            with self._changed:
                watch.waiters -= 1
                if watch.waiters == 0:
                    self._watched.pop(workflow_id, None)

    def suspend_workflow(self, workflow_id: str) -> bool:
        return self._control(workflow_id, control.suspend, WorkflowSuspended)

    def resume_workflow(self, workflow_id: str) -> bool:
        resumed = self._control(workflow_id, control.resume, WorkflowResumed)
        if resumed:
            self.queue.queue_work(workflow_id, QueueType.WORKFLOW)
        return resumed

    def terminate_workflow(self, workflow_id: str) -> bool:
        return self._control(workflow_id, control.terminate, WorkflowTerminated)

    def _control(self, workflow_id: str, change: control.Change, event: type[LifecycleEvent]) -> bool:
        # Compare-and-set, retried; meanwhile a worker of this host running the instance applies the
        # change between two steps (a busy instance would otherwise win every compare-and-set).
        request = control.ControlRequest(change)
        with self._changed:
            self._control_requests[workflow_id] = request
        try:
            instance = control.change_status(self.persistence, workflow_id, change, request=request)
        finally:
            with self._changed:
                if self._control_requests.get(workflow_id) is request:
                    del self._control_requests[workflow_id]
        if instance is None:
            return False
        if instance.status is WorkflowStatus.TERMINATED:
            for pointer in instance.execution_pointers:
                if pointer.end_time is None and pointer.event_name is not None and not pointer.event_published:
                    self.persistence.terminate_subscription(pointer.id)
            if instance.parent_workflow_id is not None:
                from liteflow.core.primitives.sub_workflow import announce_completion

                announce_completion(self, instance)
        self.emit([event.of(instance)])
        self._notify_changed(instance.id, instance.status)
        return True

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

    def on_lifecycle_event(self, callback: LifecycleCallback, *types: type[LifecycleEvent]) -> None:
        """Call ``callback(event)`` for every lifecycle event, or only those of the given ``types`` (with a
        ``lifecycle_hub``, other hosts' too); a failing callback is logged, never raised. Step events are
        only made while some callback (or a hub) takes them."""
        self.lifecycle.add(callback, types)

    def emit(self, events: list[LifecycleEvent]) -> None:
        self.lifecycle.emit(events)

    def close(self) -> None:
        """Stop the host and stop listening to the lifecycle hub (providers are left to their owner)."""
        self.stop()
        self.lifecycle.close()

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
            if instance.parent_workflow_id is not None:
                from liteflow.core.primitives.sub_workflow import announce_completion

                announce_completion(self, instance)
        elif instance.parent_workflow_id is not None and any(isinstance(e, WorkflowTerminated) for e in result.events):
            from liteflow.core.primitives.sub_workflow import announce_completion

            announce_completion(self, instance)  # a terminated child: its waiting parent step fails
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
        with self._changed:
            count = self._processing.get(workflow_id, 0) - 1
            if count > 0:
                self._processing[workflow_id] = count
            else:
                self._processing.pop(workflow_id, None)
            if workflow_id in self._watched:
                self._changed.notify_all()

    def apply_control_request(self, instance: WorkflowInstance) -> bool:
        """Between two passes of a worker holding the instance's lock: apply a pending status change.
        False if the change was made but could not be persisted (``instance`` is then not as stored)."""
        if not self._control_requests:
            return True
        with self._changed:
            request = self._control_requests.get(instance.id)
        return request is None or request.apply(self.persistence, instance)

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
        return builder.build(definition_id, version, data_type=data_type)
    except DefinitionError as exc:
        if str(exc).startswith("workflow "):
            raise
        raise DefinitionError(f"workflow {definition_id!r} version {version}: {exc}") from exc
    except Exception as exc:
        raise DefinitionError(
            f"workflow {definition_id!r} version {version}: build() raised {type(exc).__name__}: {exc}"
        ) from exc
