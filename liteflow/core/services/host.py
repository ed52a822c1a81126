"""The workflow host: the public API users call, assembled from the engine that does the work.

``WorkflowHost`` is a facade: registration, start, publish, read, control, schedules and lifecycle, each
delegated to the :class:`~liteflow.core.services.runtime.Runtime` it assembles (providers, registry,
executor, lifecycle, middleware and the collaborators the workers report to) and, once started, to its
:class:`~liteflow.core.services.workers.Workers`. The engine's services never call back into it; only
steps see it, as ``context.host`` (user code, and ``sub_workflow`` starting a child through
``start_instance``), and the template hooks, which are lifecycle callbacks of this host.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from liteflow import tracing
from liteflow.core.broker import Broker
from liteflow.core.builder.definitions import build_definition
from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.executor import StepMiddleware
from liteflow.core.errors import LiteFlowError
from liteflow.core.interfaces import LockProvider, PersistenceProvider, QueueProvider, QueueType, SupportsSchedules
from liteflow.core.lifecycle import LifecycleEvent
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.log import logger
from liteflow.core.models import Event, WorkflowInstance, WorkflowStatus, as_utc, new_id, utcnow
from liteflow.core.reserved import check_event_name
from liteflow.core.schedules import Schedule, new_schedule
from liteflow.core.services import control
from liteflow.core.services.health import check_providers
from liteflow.core.services.lifecycle_dispatch import LifecycleCallback
from liteflow.core.services.middleware import WorkflowMiddleware
from liteflow.core.services.options import HostOptions
from liteflow.core.services.runtime import Runtime
from liteflow.core.services.workers import Workers
from liteflow.core.visibility import WorkflowQuery, WorkflowVisibility

log = logger("host")


class WorkflowHost(WorkflowVisibility):
    """Registers workflows, starts them, publishes events and, once started, executes them.

    A host that was never started is a client: it can do everything but execute, while started hosts
    sharing its providers do the work. Its workers' threads are made by ``start()``.
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
        #: the engine: what the workers run with (steps see this host as ``context.host``)
        runtime = self.runtime = Runtime(self.id, persistence, queue, lock, options, lifecycle_hub, step_host=self)
        self.lifecycle = runtime.lifecycle
        self.registry = runtime.registry
        self.executor = runtime.executor
        #: tukio's broker: handlers on topics; with a lifecycle hub, dispatches reach every host.
        self.broker = Broker(self.id, lifecycle_hub, runtime.async_runner.loop)
        self._step_middleware = runtime.step_middleware
        self.control_follower = control.ControlFollower(runtime)
        self.workers = Workers(runtime)
        self._running = False
        self._mutex = threading.Lock()
        tracing.instrument(self)  # spans for every step when OpenTelemetry is installed and configured

    # -- the engine's providers and options, as the runtime holds them ---------------------------------
    @property
    def persistence(self) -> PersistenceProvider:
        return self.runtime.persistence

    @property
    def queue(self) -> QueueProvider:
        return self.runtime.queue

    @property
    def lock(self) -> LockProvider:
        return self.runtime.lock

    @property
    def options(self) -> HostOptions:
        """The host's options; set new ones before ``start()`` (the workers read them when they start)."""
        return self.runtime.options

    @options.setter
    def options(self, options: HostOptions) -> None:
        self.runtime.options = options

    # -- definitions -----------------------------------------------------------------------------------
    def register_workflow(self, workflow: Any) -> WorkflowDefinition:
        """Register a :class:`Workflow` (or a workflow template); raises DefinitionError if invalid."""
        definition = build_definition(workflow)
        self.registry.register(definition)
        if self.workers.workflow_consumer is not None:
            self.workers.workflow_consumer.missing.forget_all()
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
        return self.runtime.stopping

    @property
    def stop_event(self) -> threading.Event:
        """Set by ``stop()``: what a worker waiting (for a store to answer, say) waits on."""
        return self.runtime.stop_event

    def start(self) -> None:
        """Check once that the persistence, queue and lock answer (ProviderError naming the store that
        does not, within ``start_timeout``), then start the workers; outages after that are ridden through."""
        with self._mutex:
            if self._running:
                return
            roles = (("persistence", self.persistence), ("queue", self.queue), ("lock", self.lock))
            check_providers(roles, self.options.start_timeout)
            self.workers.start()
            self._running = True
        log.info("host.started", workers=self.options.max_concurrent_workflows)

    def stop(self) -> None:
        """Stop executing: in-flight steps finish (or run again later), locks are released, threads joined."""
        with self._mutex:
            if not self._running:
                return
            self.workers.stop()
            self._running = False
        log.info("host.stopped")

    def __enter__(self) -> WorkflowHost:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def processing_ids(self) -> set[str]:
        """The instances this host's workers are running now."""
        return self.runtime.in_progress.ids()

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
        return self.runtime.starter.start_workflow(definition_id, version, data, reference, workflow_id, if_exists)

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
        return self.runtime.starter.start_instance(
            definition_id, version, data, reference, parent_workflow_id=parent_workflow_id, workflow_id=workflow_id
        )

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
        create_queued = self.runtime.create_queued_event
        if create_queued is not None:  # one step
            create_queued(event)
        else:
            self.persistence.create_event(event)
            self.queue.queue_work(event.id, QueueType.EVENT)
        return event.id

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        """A snapshot of the instance (changing it changes nothing stored). WorkflowNotFoundError if unknown."""
        instance = self.persistence.get_workflow_instance(workflow_id)
        self.runtime.rebuild_data(instance, self.registry.find(instance.workflow_definition_id, instance.version))
        return instance

    def wait_for_workflow(self, workflow_id: str, timeout: float | None = 30) -> WorkflowInstance:
        """Block until the instance is no longer RUNNABLE; TimeoutError after ``timeout`` seconds
        (``None``: no limit).

        Woken by this host's own progress on the instance (it re-reads the instance only once it has
        settled); progress made by other hosts is seen by re-reading it every quarter second. A read
        that fails (the store briefly away: ProviderError) is tried again, with backoff, until the
        timeout; an unknown id raises WorkflowNotFoundError at once.
        """
        return self.runtime.in_progress.wait(workflow_id, timeout, self.get_workflow_instance)

    def suspend_workflow(self, workflow_id: str) -> bool:
        """Suspend a RUNNABLE instance; False if it is finished or suspended already. During a step, the
        step's result is kept and the instance is suspended when the step returns."""
        return control.change_status(self.runtime, self.control_follower, workflow_id, "suspend")

    def resume_workflow(self, workflow_id: str) -> bool:
        """Resume a SUSPENDED instance; False if it is not suspended."""
        return control.change_status(self.runtime, self.control_follower, workflow_id, "resume")

    def terminate_workflow(self, workflow_id: str) -> bool:
        """Terminate a RUNNABLE or SUSPENDED instance; False if it is finished. During a step, the step's
        result is kept and the instance is terminated when the step returns."""
        return control.change_status(self.runtime, self.control_follower, workflow_id, "terminate")

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

    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        """``list_workflows``: read from the provider's indexes; data is rebuilt as for ``get_workflow_instance``."""
        instances = self.persistence.list_workflows(**query.as_kwargs(), skip=skip, take=take)
        for instance in instances:
            self.runtime.rebuild_data(instance, self.registry.find(instance.workflow_definition_id, instance.version))
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
        self.runtime.workflow_middleware.add(phase, middleware)

    def has_workflow_middleware(self, phase: str) -> bool:
        return self.runtime.workflow_middleware.has(phase)

    def on_lifecycle_event(
        self, callback: LifecycleCallback, *types: type[LifecycleEvent], local_only: bool = False
    ) -> None:
        """Call ``callback(event)`` for every lifecycle event, or only those of the given ``types`` (with a
        ``lifecycle_hub``, other hosts' too, unless ``local_only``); a failing callback is logged, never
        raised. Step events are only made while some callback (or a hub) takes them."""
        self.lifecycle.add(callback, types, local_only)

    def close(self) -> None:
        """Stop the host and stop listening to the lifecycle hub (providers are left to their owner)."""
        self.stop()
        self.control_follower.close()
        self.lifecycle.close()
        self.broker.close()
