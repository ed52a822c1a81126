"""Registered workflow definitions, keyed by (id, version)."""

from __future__ import annotations

import threading

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.errors import DefinitionError, WorkflowNotRegisteredError
from liteflow.core.serialization import TypeResolver


class WorkflowRegistry:
    """Definitions by id and version; ``version=None`` means the latest. Also remembers the data types
    workflows use, so data read back from a database is rebuilt only as a class already known here."""

    def __init__(self) -> None:
        self._definitions: dict[tuple[str, int], WorkflowDefinition] = {}
        self._latest: dict[str, int] = {}
        self._mutex = threading.Lock()
        self.types = TypeResolver()

    def register(self, definition: WorkflowDefinition) -> None:
        key = (definition.id, definition.version)
        with self._mutex:
            if key in self._definitions:
                raise DefinitionError(f"workflow {definition.id!r} version {definition.version} is already registered")
            self._definitions[key] = definition
            if definition.version >= self._latest.get(definition.id, definition.version):
                self._latest[definition.id] = definition.version
        self.types.remember(definition.data_type)

    def get(self, definition_id: str, version: int | None = None) -> WorkflowDefinition:
        with self._mutex:
            if version is None:
                version = self._latest.get(definition_id)
                if version is None:
                    raise WorkflowNotRegisteredError(definition_id)
            definition = self._definitions.get((definition_id, version))
        if definition is None:
            raise WorkflowNotRegisteredError(definition_id, version)
        return definition

    def find(self, definition_id: str, version: int) -> WorkflowDefinition | None:
        return self._definitions.get((definition_id, version))

    def all(self) -> list[WorkflowDefinition]:
        with self._mutex:
            return list(self._definitions.values())
