"""Finding instances: the filters of ``list_workflows`` / ``count_workflows``, read the same way everywhere.

Every provider answers the same query: instances matching all the filters given (status, definition id,
reference, ``created_from <= create_time < created_to``), newest ``create_time`` first, ties broken by
the larger id first (so paging with ``skip`` / ``take`` is stable), read from indexes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liteflow.core.models import WorkflowInstance, WorkflowStatus, as_utc


def parse_status(value: WorkflowStatus | str | None) -> WorkflowStatus | None:
    """A status given as the enum, its name (``"COMPLETE"``) or its value (``"Complete"``), any case."""
    if value is None or isinstance(value, WorkflowStatus):
        return value
    if isinstance(value, str):
        wanted = value.strip().upper()
        for status in WorkflowStatus:
            if wanted in (status.name, status.value.upper()):
                return status
    known = ", ".join(status.name for status in WorkflowStatus)
    raise ValueError(f"unknown workflow status {value!r}: use one of {known}")


@dataclass(frozen=True)
class WorkflowQuery:
    """The filters of one query, normalised (times UTC, status an enum)."""

    status: WorkflowStatus | None = None
    definition_id: str | None = None
    reference: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    @classmethod
    def of(
        cls,
        status: WorkflowStatus | str | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> WorkflowQuery:
        return cls(
            parse_status(status),
            definition_id,
            None if reference is None else str(reference),
            as_utc(created_from),
            as_utc(created_to),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The filters as the keyword arguments of a provider's ``list_workflows`` / ``count_workflows``."""
        return {
            "status": self.status,
            "definition_id": self.definition_id,
            "reference": self.reference,
            "created_from": self.created_from,
            "created_to": self.created_to,
        }

    def matches(self, status: Any, definition_id: str, reference: str | None, create_time: datetime) -> bool:
        """Whether an instance with these values passes every filter."""
        return (
            (self.status is None or WorkflowStatus(status) is self.status)
            and (self.definition_id is None or definition_id == self.definition_id)
            and (self.reference is None or reference == self.reference)
            and (self.created_from is None or create_time >= self.created_from)
            and (self.created_to is None or create_time < self.created_to)
        )


def check_page(skip: int, take: int) -> None:
    """``skip`` and ``take`` must be whole numbers, not negative."""
    for name, value in (("skip", skip), ("take", take)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")


class WorkflowVisibility(ABC):
    """``list_workflows`` / ``count_workflows`` with their keyword filters, for a class that answers a
    :class:`WorkflowQuery`: the filters are normalised (``status`` a WorkflowStatus or its name, times
    UTC) and the page checked here, once, and the class implements :meth:`find_workflows` and
    :meth:`count_matching` (the built-in providers and the host do)."""

    def list_workflows(
        self,
        status: WorkflowStatus | str | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        skip: int = 0,
        take: int = 100,
    ) -> list[WorkflowInstance]:
        """Instances matching every filter given (``created_from <= create_time < created_to``), newest
        ``create_time`` first (ties: larger id first), ``skip`` of them left out, at most ``take``.
        ValueError for an unknown status or a negative ``skip`` / ``take``."""
        query = WorkflowQuery.of(status, definition_id, reference, created_from, created_to)
        check_page(skip, take)
        return self.find_workflows(query, skip, take)

    def count_workflows(
        self,
        status: WorkflowStatus | str | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> int:
        """How many instances ``list_workflows`` with the same filters finds without paging."""
        return self.count_matching(WorkflowQuery.of(status, definition_id, reference, created_from, created_to))

    @abstractmethod
    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        """The page of instances matching ``query`` (``skip`` and ``take`` already checked), in the
        order of ``list_workflows``."""

    @abstractmethod
    def count_matching(self, query: WorkflowQuery) -> int:
        """How many instances match ``query``."""
