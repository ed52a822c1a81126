"""The memory store's visibility indexes: instances by creation time, per status, definition and reference.

Each index is a list of ``(create_time, id)`` kept sorted (``bisect``), so a query reads only the slice
of the most selective index between its time bounds, newest first, and stops once it has a page: a
status query never walks the finished instances of other statuses, and paging needs no sort. Instances
arrive roughly in creation order, so an insert lands near the end of its list.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from liteflow.core.models import WorkflowStatus
from liteflow.core.visibility import WorkflowQuery

Entry = tuple[datetime, str]


class _Meta(NamedTuple):
    create_time: datetime
    status: WorkflowStatus
    definition_id: str
    reference: str | None


class VisibilityIndex:
    """Sorted ``(create_time, id)`` lists: every instance, and per status, definition and reference."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, _Meta] = {}
        self._all: list[Entry] = []
        self._by_status: dict[WorkflowStatus, list[Entry]] = {status: [] for status in WorkflowStatus}
        self._by_definition: dict[str, list[Entry]] = {}
        self._by_reference: dict[str, list[Entry]] = {}

    def add(
        self, workflow_id: str, create_time: datetime, status: WorkflowStatus, definition_id: str, reference: str | None
    ) -> None:
        with self._lock:
            self._remove(workflow_id)
            meta = _Meta(create_time, status, definition_id, reference)
            self._meta[workflow_id] = meta
            entry = (create_time, workflow_id)
            for entries in self._lists(meta):
                insort(entries, entry)

    def set_status(self, workflow_id: str, status: WorkflowStatus) -> None:
        """Move an instance to another status (nothing if it is not indexed or already there)."""
        meta = self._meta.get(workflow_id)  # the common case, without the lock: the status is unchanged
        if meta is None or meta.status is status:
            return
        with self._lock:
            meta = self._meta.get(workflow_id)
            if meta is None or meta.status is status:
                return
            entry = (meta.create_time, workflow_id)
            _discard(self._by_status[meta.status], entry)
            insort(self._by_status[status], entry)
            self._meta[workflow_id] = meta._replace(status=status)

    def remove(self, workflow_id: str) -> None:
        with self._lock:
            self._remove(workflow_id)

    def _remove(self, workflow_id: str) -> None:
        meta = self._meta.pop(workflow_id, None)
        if meta is None:
            return
        entry = (meta.create_time, workflow_id)
        for entries in self._lists(meta):
            _discard(entries, entry)
        for table, key in ((self._by_definition, meta.definition_id), (self._by_reference, meta.reference)):
            if key is not None and not table.get(key, True):
                del table[key]

    def _lists(self, meta: _Meta) -> Iterator[list[Entry]]:
        """The lists an instance with ``meta`` is in (made as needed)."""
        yield self._all
        yield self._by_status[meta.status]
        yield self._by_definition.setdefault(meta.definition_id, [])
        if meta.reference is not None:
            yield self._by_reference.setdefault(meta.reference, [])

    def ids(self, query: WorkflowQuery, skip: int, take: int | None) -> list[str]:
        """Ids of the matching instances, newest first, after ``skip``, at most ``take`` (None: all)."""
        with self._lock:
            return list(self._walk(query, skip, take))

    def count(self, query: WorkflowQuery) -> int:
        with self._lock:
            _, lo, hi = self._driver(query)
            if self._only_filter(query):
                return hi - lo
            return sum(1 for _ in self._walk(query, 0, None))

    def _walk(self, query: WorkflowQuery, skip: int, take: int | None) -> Iterator[str]:
        entries, lo, hi = self._driver(query)
        if take == 0:
            return
        if self._only_filter(query):  # the slice is the answer: no per-entry checks
            stop = lo if take is None else max(lo, hi - skip - take)
            for i in range(hi - skip - 1, stop - 1, -1):
                yield entries[i][1]
            return
        given = 0
        for i in range(hi - 1, lo - 1, -1):
            workflow_id = entries[i][1]
            meta = self._meta[workflow_id]
            if not query.matches(meta.status, meta.definition_id, meta.reference, meta.create_time):
                continue
            if skip:
                skip -= 1
                continue
            yield workflow_id
            given += 1
            if take is not None and given >= take:
                return

    def _driver(self, query: WorkflowQuery) -> tuple[list[Entry], int, int]:
        """The smallest index the query's filters select, and the slice of it within the time bounds."""
        candidates: list[list[Entry]] = []
        if query.status is not None:
            candidates.append(self._by_status[query.status])
        if query.definition_id is not None:
            candidates.append(self._by_definition.get(query.definition_id, []))
        if query.reference is not None:
            candidates.append(self._by_reference.get(query.reference, []))
        best: tuple[list[Entry], int, int] | None = None
        for entries in candidates or [self._all]:
            lo = 0 if query.created_from is None else bisect_left(entries, (query.created_from, ""))
            hi = len(entries) if query.created_to is None else bisect_left(entries, (query.created_to, ""))
            if best is None or hi - lo < best[2] - best[1]:
                best = (entries, lo, max(lo, hi))
        assert best is not None
        return best

    @staticmethod
    def _only_filter(query: WorkflowQuery) -> bool:
        """Whether the driving index alone answers the query (at most one of status/definition/reference)."""
        return sum(value is not None for value in (query.status, query.definition_id, query.reference)) <= 1


def _discard(entries: list[Entry], entry: Entry) -> None:
    i = bisect_left(entries, entry)
    if i < len(entries) and entries[i] == entry:
        del entries[i]
