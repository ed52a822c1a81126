"""Schedules and concurrency wait lines in memory (the memory persistence provider's optional abilities)."""

from __future__ import annotations

import threading
from datetime import datetime

from liteflow.core.schedules import Schedule

#: Guards the lazily made state below (and the wait lines, which are small and rarely touched).
_SETUP = threading.RLock()


class MemorySchedules:
    """The ``SupportsSchedules`` part of the memory persistence provider."""

    _schedule_docs: dict[str, str]
    _schedule_mutex: threading.Lock

    def _schedule_state(self) -> tuple[dict[str, str], threading.Lock]:
        try:
            return self._schedule_docs, self._schedule_mutex
        except AttributeError:
            with _SETUP:
                if not hasattr(self, "_schedule_docs"):
                    self._schedule_mutex = threading.Lock()
                    self._schedule_docs = {}
            return self._schedule_docs, self._schedule_mutex

    def save_schedule(self, schedule: Schedule) -> None:
        docs, mutex = self._schedule_state()
        with mutex:
            docs[schedule.id] = schedule.model_dump_json()

    def delete_schedule(self, schedule_id: str) -> bool:
        docs, mutex = self._schedule_state()
        with mutex:
            return docs.pop(schedule_id, None) is not None

    def get_schedules(self) -> list[Schedule]:
        docs, mutex = self._schedule_state()
        with mutex:
            stored = sorted(docs.items())
        return [Schedule.model_validate_json(doc) for _, doc in stored]

    def claim_schedule(self, schedule_id: str, due: datetime, next_due: datetime) -> bool:
        docs, mutex = self._schedule_state()
        with mutex:
            doc = docs.get(schedule_id)
            if doc is None:
                return False
            schedule = Schedule.model_validate_json(doc)
            if schedule.next_run_time != due:
                return False
            schedule.next_run_time = next_due
            docs[schedule_id] = schedule.model_dump_json()
            return True


class MemoryWaitLists:
    """The ``SupportsWaitLists`` part of the memory persistence provider: key -> {workflow id: score}."""

    _wait_lines: dict[str, dict[str, float]]

    def _lines(self) -> dict[str, dict[str, float]]:
        try:
            return self._wait_lines
        except AttributeError:
            with _SETUP:
                if not hasattr(self, "_wait_lines"):
                    self._wait_lines = {}
            return self._wait_lines

    def add_waiter(self, key: str, workflow_id: str, score: float) -> None:
        with _SETUP:
            self._lines().setdefault(key, {}).setdefault(workflow_id, score)

    def oldest_waiter(self, key: str) -> tuple[str, float] | None:
        with _SETUP:
            line = self._lines().get(key)
            if not line:
                return None
            workflow_id = min(line, key=lambda wid: (line[wid], wid))
            return workflow_id, line[workflow_id]

    def remove_waiter(self, key: str, workflow_id: str) -> None:
        with _SETUP:
            line = self._lines().get(key)
            if line is not None:
                line.pop(workflow_id, None)
                if not line:
                    del self._lines()[key]
