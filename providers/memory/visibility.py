"""The memory store's visibility indexes: instances by creation time, per status, definition and reference.

Each index is a list of ``(create_time, id)`` kept sorted (``bisect``), so a query reads only the slice
of the most selective index between its time bounds, newest first, and stops once it has a page: a
status query never walks the finished instances of other statuses, and paging needs no sort. Instances
arrive roughly in creation order, so an insert lands near the end of its list.

Adding an instance and changing its status (what the writers do) make no Python call while holding the
index's lock: a thread switches only at a call or a loop, and a thread switched away while holding a lock
keeps every thread that wants it waiting for its next turn (a starting thread spent most of a W run at
N=10,000 waiting here while the index's updates were calls).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Iterator
from datetime import datetime

from liteflow.core.models import WorkflowStatus
from liteflow.core.visibility import WorkflowQuery

Entry = tuple[datetime, str]

#: What the index knows of an instance: (create_time, status value, definition id, reference). A plain
#: tuple of strings and a datetime, which the garbage collector stops tracking (a NamedTuple, or an enum
#: inside, would keep 100,000 of them on every full collection's list).
Meta = tuple[datetime, str, str, "str | None"]


class VisibilityIndex:
    """Sorted ``(create_time, id)`` lists: every instance, and per status, definition and reference."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, Meta] = {}
        self._all: list[Entry] = []
        self._by_status: dict[str, list[Entry]] = {status.value: [] for status in WorkflowStatus}
        self._by_definition: dict[str, list[Entry]] = {}
        self._by_reference: dict[str, list[Entry]] = {}

    def add(
        self, workflow_id: str, create_time: datetime, status: WorkflowStatus, definition_id: str, reference: str | None
    ) -> None:
        value = WorkflowStatus(status).value
        entry = (create_time, workflow_id)
        with self._lock:
            if workflow_id in self._meta:
                self._remove(workflow_id)
            self._meta[workflow_id] = (create_time, value, definition_id, reference)
            # the lists of _lists(), without the generator (one add per instance started)
            insort(self._all, entry)
            insort(self._by_status[value], entry)
            entries = self._by_definition.get(definition_id)
            if entries is None:
                entries = self._by_definition[definition_id] = []
            insort(entries, entry)
            if reference is not None:
                entries = self._by_reference.get(reference)
                if entries is None:
                    entries = self._by_reference[reference] = []
                insort(entries, entry)

    def set_status(self, workflow_id: str, status: WorkflowStatus) -> None:
        """Move an instance to another status (nothing if it is not indexed or already there)."""
        value = status.value
        meta = self._meta.get(workflow_id)  # the common case, without the lock: the status is unchanged
        if meta is None or meta[1] == value:
            return
        with self._lock:  # no Python call while it is held (see the module's note)
            meta = self._meta.get(workflow_id)
            if meta is None or meta[1] == value:
                return
            entry = (meta[0], workflow_id)
            entries = self._by_status[meta[1]]
            i = bisect_left(entries, entry)  # _discard(entries, entry)
            if i < len(entries) and entries[i] == entry:
                del entries[i]
            insort(self._by_status[value], entry)
            self._meta[workflow_id] = (meta[0], value, meta[2], meta[3])

    def remove(self, workflow_id: str) -> None:
        with self._lock:
            self._remove(workflow_id)

    def _remove(self, workflow_id: str) -> None:
        meta = self._meta.pop(workflow_id, None)
        if meta is None:
            return
        entry = (meta[0], workflow_id)
        for entries in self._lists(meta):
            _discard(entries, entry)
        for table, key in ((self._by_definition, meta[2]), (self._by_reference, meta[3])):
            if key is not None and not table.get(key, True):
                del table[key]

    def _lists(self, meta: Meta) -> Iterator[list[Entry]]:
        """The lists an instance with ``meta`` is in (made as needed)."""
        yield self._all
        yield self._by_status[meta[1]]
        yield self._by_definition.setdefault(meta[2], [])
        if meta[3] is not None:
            yield self._by_reference.setdefault(meta[3], [])

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
            created, status, definition_id, reference = self._meta[workflow_id]
            if not query.matches(status, definition_id, reference, created):
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
            candidates.append(self._by_status[query.status.value])
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
