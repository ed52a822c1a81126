"""Schedules in MongoDB: the ``schedules`` collection, one document per schedule with its next due time
in epoch milliseconds (``next_run_ms``), the field ``claim_schedule`` compares and sets."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from liteflow.core.models import to_millis
from liteflow.core.schedules import Schedule


class MongoSchedules:
    """The ``SupportsSchedules`` part of the MongoDB persistence provider."""

    _db: Any
    _serial: AbstractContextManager[Any]
    _driver_errors: Callable[[str], AbstractContextManager[None]]

    def save_schedule(self, schedule: Schedule) -> None:
        doc = {"_id": schedule.id, "doc": schedule.model_dump_json(), "next_run_ms": to_millis(schedule.next_run_time)}
        with self._serial, self._driver_errors("save_schedule"):
            self._db["schedules"].replace_one({"_id": schedule.id}, doc, upsert=True)

    def delete_schedule(self, schedule_id: str) -> bool:
        with self._serial, self._driver_errors("delete_schedule"):
            return bool(self._db["schedules"].delete_one({"_id": schedule_id}).deleted_count)

    def get_schedules(self) -> list[Schedule]:
        with self._serial, self._driver_errors("get_schedules"):
            docs = list(self._db["schedules"].find({}).sort("_id", 1))
        schedules = []
        for doc in docs:
            schedule = Schedule.model_validate_json(doc["doc"])
            schedule.next_run_time = datetime.fromtimestamp(int(doc["next_run_ms"]) / 1000, timezone.utc)
            schedules.append(schedule)
        return schedules

    def claim_schedule(self, schedule_id: str, due: datetime, next_due: datetime) -> bool:
        with self._serial, self._driver_errors("claim_schedule"):
            result = self._db["schedules"].update_one(
                {"_id": schedule_id, "next_run_ms": to_millis(due)}, {"$set": {"next_run_ms": to_millis(next_due)}}
            )
        return bool(result.modified_count)


class MongoWaitLists:
    """The ``SupportsWaitLists`` part of the MongoDB persistence provider: the ``waiters`` collection."""

    _db: Any
    _serial: AbstractContextManager[Any]
    _driver_errors: Callable[[str], AbstractContextManager[None]]

    def add_waiter(self, key: str, workflow_id: str, score: float) -> None:
        doc = {"key": key, "workflow_id": workflow_id, "score": score}
        with self._serial, self._driver_errors("add_waiter"):
            self._db["waiters"].update_one({"_id": f"{key}\x00{workflow_id}"}, {"$setOnInsert": doc}, upsert=True)

    def oldest_waiter(self, key: str) -> tuple[str, float] | None:
        with self._serial, self._driver_errors("oldest_waiter"):
            docs = list(self._db["waiters"].find({"key": key}).sort([("score", 1), ("workflow_id", 1)]).limit(1))
        return None if not docs else (str(docs[0]["workflow_id"]), float(docs[0]["score"]))

    def remove_waiter(self, key: str, workflow_id: str) -> None:
        with self._serial, self._driver_errors("remove_waiter"):
            self._db["waiters"].delete_one({"_id": f"{key}\x00{workflow_id}"})
