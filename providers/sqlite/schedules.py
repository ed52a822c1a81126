"""Schedules and concurrency wait lines in SQLite (the persistence provider's optional abilities).

``schedules``: one row per schedule, its JSON and its next due time in epoch milliseconds
(``next_run_ms``), the column ``claim_schedule`` compares and sets in one UPDATE. ``waiters``: one row
per (key, workflow id) with its score, read oldest first through the index on (key, score).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from liteflow.core.models import to_millis
from liteflow.core.schedules import Schedule

from .database import Database

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class SqliteSchedules:
    """The ``SupportsSchedules`` part of the SQLite persistence provider (needs its ``_db``)."""

    _db: Database

    def save_schedule(self, schedule: Schedule) -> None:
        row = (schedule.id, to_millis(schedule.next_run_time), schedule.model_dump_json())
        self._db.write(
            "save_schedule",
            lambda c: c.execute("INSERT OR REPLACE INTO schedules (id, next_run_ms, doc) VALUES (?, ?, ?)", row),
        )

    def delete_schedule(self, schedule_id: str) -> bool:
        return self._db.write(
            "delete_schedule", lambda c: c.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount == 1
        )

    def get_schedules(self) -> list[Schedule]:
        schedules = []
        for doc, next_run_ms in self._db.query("get_schedules", "SELECT doc, next_run_ms FROM schedules ORDER BY id"):
            schedule = Schedule.model_validate_json(doc)
            schedule.next_run_time = _EPOCH + timedelta(milliseconds=int(next_run_ms))  # the column is the truth
            schedules.append(schedule)
        return schedules

    def claim_schedule(self, schedule_id: str, due: datetime, next_due: datetime) -> bool:
        claim = (to_millis(next_due), schedule_id, to_millis(due))
        return self._db.write(
            "claim_schedule",
            lambda c: (
                c.execute("UPDATE schedules SET next_run_ms = ? WHERE id = ? AND next_run_ms = ?", claim).rowcount == 1
            ),
        )


class SqliteWaitLists:
    """The ``SupportsWaitLists`` part of the SQLite persistence provider: the ``waiters`` table."""

    _db: Database

    def add_waiter(self, key: str, workflow_id: str, score: float) -> None:
        self._db.write(
            "add_waiter",
            lambda c: c.execute(
                "INSERT OR IGNORE INTO waiters (key, workflow_id, score) VALUES (?, ?, ?)", (key, workflow_id, score)
            ),
        )

    def oldest_waiter(self, key: str) -> tuple[str, float] | None:
        rows = self._db.query(
            "oldest_waiter",
            "SELECT workflow_id, score FROM waiters WHERE key = ? ORDER BY score, workflow_id LIMIT 1",
            (key,),
        )
        return (str(rows[0][0]), float(rows[0][1])) if rows else None

    def remove_waiter(self, key: str, workflow_id: str) -> None:
        self._db.write(
            "remove_waiter",
            lambda c: c.execute("DELETE FROM waiters WHERE key = ? AND workflow_id = ?", (key, workflow_id)),
        )
