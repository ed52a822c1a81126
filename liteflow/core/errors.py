"""The exceptions LiteFlow raises.

Every error derives from :class:`LiteFlowError`, so one ``except`` catches them all::

    LiteFlowError
    ├── DefinitionError             an invalid workflow definition or template (at register_workflow)
    ├── WorkflowNotRegisteredError  start_workflow with an unknown definition id or version
    ├── WorkflowNotFoundError       an unknown workflow instance id
    ├── SerializationError          data a persistent provider cannot store (at start_workflow/publish_event)
    ├── WorkflowAlreadyExistsError  start_workflow(workflow_id=...) / create_workflow with an id in use
    ├── ConcurrencyError            persist_workflow lost a compare-and-set on the instance revision
    │   └── ControlRequested        ... because a status change waits for the lock holder to apply it
    ├── ProviderError               a provider's backing service failed (driver errors chained)
    └── NonRetryableError           raised by a step: not retried, its ``on_error`` ``then`` behaviour applies

Driver errors are chained with ``raise ... from`` so the original cause stays visible.
"""

from __future__ import annotations


class LiteFlowError(Exception):
    """Base class of every LiteFlow error."""


class DefinitionError(LiteFlowError):
    """A workflow definition or template is invalid. Raised by ``register_workflow``."""


class WorkflowNotRegisteredError(LiteFlowError):
    """No workflow definition is registered under this id (and version)."""

    def __init__(self, definition_id: str, version: int | None = None) -> None:
        self.definition_id = definition_id
        self.version = version
        where = f"{definition_id!r}" if version is None else f"{definition_id!r} version {version}"
        super().__init__(f"workflow {where} is not registered")


class WorkflowNotFoundError(LiteFlowError):
    """No workflow instance has this id."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow instance {workflow_id!r} not found")


class SerializationError(LiteFlowError):
    """A value cannot be stored as JSON by a persistent provider; the message names the attribute."""


class ConcurrencyError(LiteFlowError):
    """An instance was persisted by someone else since it was read (its revision moved on)."""

    def __init__(self, workflow_id: str, expected_revision: int) -> None:
        self.workflow_id = workflow_id
        self.expected_revision = expected_revision
        super().__init__(
            f"workflow instance {workflow_id!r} was changed elsewhere (expected revision {expected_revision})"
        )


class WorkflowAlreadyExistsError(LiteFlowError):
    """An instance with this id exists already (``create_workflow`` never replaces one; a caller-chosen
    ``start_workflow(..., workflow_id=...)`` given twice)."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow instance {workflow_id!r} already exists")


class ControlRequested(ConcurrencyError):
    """``persist_workflow`` stored nothing: a status change (suspend, resume, terminate) was requested for
    the instance, and its lock holder must apply it to what it stores (``request`` is the stored request)."""

    def __init__(self, workflow_id: str, expected_revision: int, request: str) -> None:
        super().__init__(workflow_id, expected_revision)
        self.request = request


class ProviderError(LiteFlowError):
    """A provider's backing service (database, queue, lock server) failed."""


class NonRetryableError(LiteFlowError):
    """Raised by a step (or a subclass of it) for a failure that retrying cannot fix: the step is not
    retried and goes straight to the ``then`` behaviour of its ``on_error`` (default TERMINATE)."""
