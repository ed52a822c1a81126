"""Finding instances: the filters of ``list_workflows`` / ``count_workflows``, read the same way everywhere.

Every provider answers the same query: instances matching all the filters given (status, definition id,
reference, ``created_from <= create_time < created_to``), newest ``create_time`` first, ties broken by
the larger id first (so paging with ``skip`` / ``take`` is stable), read from indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liteflow.core.models import WorkflowStatus, as_utc


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
