"""LiteFlow's public API: ``from liteflow.core import *``."""

from liteflow.core.broker import BrokerEvent
from liteflow.core.builder import (
    ContainerBuilder,
    DecideBuilder,
    ParallelBuilder,
    ScheduleBuilder,
    StepBuilder,
    WhenBuilder,
    WorkflowBuilder,
)
from liteflow.core.definition import ErrorBehavior, WorkflowDefinition, WorkflowStep
from liteflow.core.errors import (
    ConcurrencyError,
    DefinitionError,
    LiteFlowError,
    NonRetryableError,
    ProviderError,
    SerializationError,
    WorkflowAlreadyExistsError,
    WorkflowNotFoundError,
    WorkflowNotRegisteredError,
)
from liteflow.core.interfaces import LockProvider, PersistenceProvider, QueueProvider, QueueType
from liteflow.core.lifecycle import (
    LifecycleEvent,
    StepCompleted,
    StepStarted,
    WorkflowCompleted,
    WorkflowError,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowSuspended,
    WorkflowTerminated,
)
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
)
from liteflow.core.schedules import Schedule
from liteflow.core.services.configure import configure_workflow_host
from liteflow.core.services.host import WorkflowHost
from liteflow.core.services.options import HostOptions
from liteflow.core.step import ExecutionResult, StepBody, StepExecutionContext
from liteflow.core.templates import TaskHolder, WorkflowTemplate, register
from liteflow.core.workflow import Workflow

__all__ = [
    "BrokerEvent",
    "ConcurrencyError",
    "ContainerBuilder",
    "DecideBuilder",
    "DefinitionError",
    "ErrorBehavior",
    "Event",
    "EventSubscription",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionResult",
    "HostOptions",
    "LifecycleEvent",
    "LiteFlowError",
    "LockProvider",
    "NonRetryableError",
    "ParallelBuilder",
    "PersistenceProvider",
    "PointerStatus",
    "ProviderError",
    "QueueProvider",
    "QueueType",
    "Schedule",
    "ScheduleBuilder",
    "SerializationError",
    "StepBody",
    "StepBuilder",
    "StepCompleted",
    "StepExecutionContext",
    "StepStarted",
    "TaskHolder",
    "WhenBuilder",
    "Workflow",
    "WorkflowAlreadyExistsError",
    "WorkflowBuilder",
    "WorkflowCompleted",
    "WorkflowDefinition",
    "WorkflowError",
    "WorkflowHost",
    "WorkflowInstance",
    "WorkflowNotFoundError",
    "WorkflowNotRegisteredError",
    "WorkflowResumed",
    "WorkflowStarted",
    "WorkflowStatus",
    "WorkflowStep",
    "WorkflowSuspended",
    "WorkflowTemplate",
    "WorkflowTerminated",
    "configure_workflow_host",
    "register",
]
