"""Starting instances: a new instance of a registered definition, created, announced and queued."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from liteflow.core.engine.limits import concurrency_key_of
from liteflow.core.engine.pointer_factory import genesis_pointer
from liteflow.core.engine.registry import WorkflowRegistry
from liteflow.core.errors import WorkflowAlreadyExistsError, WorkflowNotRegisteredError
from liteflow.core.interfaces import PersistenceProvider, QueueProvider, QueueType
from liteflow.core.lifecycle import WorkflowStarted
from liteflow.core.models import WorkflowInstance, to_millis, utcnow
from liteflow.core.schedules import Schedule
from liteflow.core.serialization import type_name, validate_into
from liteflow.core.services.lifecycle_dispatch import LifecycleDispatcher
from liteflow.core.services.middleware import WorkflowMiddlewares

_PLAIN = (dict, list, tuple, str, int, float, bool, type(None), SimpleNamespace)
#: Data stored without a type name (what is stored is what comes back); a SimpleNamespace is named, so it
#: comes back one.
_UNNAMED = (dict, list, tuple, str, int, float, bool, type(None))


class InstanceStarter:
    """``start_workflow`` (by users), ``start_instance`` (a child, a template), ``start_scheduled`` (a
    schedule's due time): the "pre" middleware, the create, ``WorkflowStarted``, then the queue."""

    def __init__(
        self,
        registry: WorkflowRegistry,
        persistence: PersistenceProvider,
        queue: QueueProvider,
        middlewares: WorkflowMiddlewares,
        lifecycle: LifecycleDispatcher,
    ) -> None:
        self.registry = registry
        self.persistence = persistence
        self.queue = queue
        self.middlewares = middlewares
        self.lifecycle = lifecycle

    def start_workflow(
        self,
        definition_id: str,
        version: int | None = None,
        data: Any = None,
        reference: str | None = None,
        workflow_id: str | None = None,
        if_exists: str = "error",
    ) -> str:
        """See ``WorkflowHost.start_workflow``."""
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
        self.middlewares.run_pre(instance)
        self.persistence.create_workflow(instance)
        self.lifecycle.emit([WorkflowStarted.of(instance)])
        self.queue.queue_work(instance.id, QueueType.WORKFLOW)
        return instance.id

    def start_scheduled(self, schedule: Schedule, due: datetime) -> bool:
        """For the schedule runner: start the instance of ``schedule`` due at ``due`` (exactly one per due
        time, across hosts); False if this host does not have its definition."""
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
