"""Schedules in memory: JSON documents in a dictionary, changed under a mutex of their own."""

from __future__ import annotations

import threading
from datetime import datetime

from liteflow.core.schedules import Schedule


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


_SETUP = threading.Lock()
