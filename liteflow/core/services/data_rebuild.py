"""Workflow data read back from a JSON store, rebuilt as a class this process knows."""

from __future__ import annotations

from types import SimpleNamespace

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.registry import WorkflowRegistry
from liteflow.core.interfaces import PersistenceProvider
from liteflow.core.models import WorkflowInstance
from liteflow.core.serialization import rebuild


class DataRebuild:
    """``rebuild_data(instance, definition)``: the definition's ``data_type``, else the type the instance
    was started with if this process registered it (else a SimpleNamespace); never a class a document
    names by itself."""

    def __init__(self, persistence: PersistenceProvider, registry: WorkflowRegistry) -> None:
        self.persistence = persistence
        self.registry = registry

    def __call__(self, instance: WorkflowInstance, definition: WorkflowDefinition | None) -> None:
        if not self.persistence.stores_json or not isinstance(instance.data, dict):
            return
        target = definition.data_type if definition is not None and definition.data_type is not None else None
        if target is None and instance.data_type_name is not None:
            target = self.registry.types.resolve(instance.data_type_name) or SimpleNamespace
        instance.data = rebuild(instance.data, target)
