"""Schedules in Redis: ``P{Pschedules}schedule`` (hash: id -> the schedule's JSON) and
``P{Pschedules}schedule:next`` (hash: id -> its next due time in epoch milliseconds, the value
``claim_schedule`` compares and sets); one hash tag, so one slot on a cluster."""

from __future__ import annotations

from datetime import datetime

from liteflow.core.models import to_millis
from liteflow.core.schedules import Schedule

from .connection import RedisConnection, provider_errors, text
from .shards import tagged

SAVE_SCHEDULE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

DELETE_SCHEDULE = """
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
"""

CLAIM_SCHEDULE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""


class RedisSchedules:
    """The ``SupportsSchedules`` part of the Redis persistence provider (needs its ``_conn``)."""

    _conn: RedisConnection

    def _schedule_keys(self) -> tuple[str, str]:
        base = tagged(self._conn.prefix, "schedules")
        return base + "schedule", base + "schedule:next"

    def save_schedule(self, schedule: Schedule) -> None:
        script = self._conn.script(SAVE_SCHEDULE)
        with provider_errors("save_schedule"):
            self._conn.run_script(
                script,
                self._schedule_keys(),
                [schedule.id, schedule.model_dump_json(), str(to_millis(schedule.next_run_time))],
                replicated=True,
            )

    def delete_schedule(self, schedule_id: str) -> bool:
        with provider_errors("delete_schedule"):
            return bool(
                self._conn.run_script(
                    self._conn.script(DELETE_SCHEDULE), self._schedule_keys(), [schedule_id], replicated=True
                )
            )

    def get_schedules(self) -> list[Schedule]:
        docs_key, next_key = self._schedule_keys()
        with provider_errors("get_schedules"):
            docs = self._conn.client.hgetall(docs_key)
            due = self._conn.client.hgetall(next_key)
        schedules = []
        for raw_id, doc in sorted(docs.items()):
            schedule = Schedule.model_validate_json(doc)
            millis = due.get(raw_id)
            if millis is not None:
                schedule.next_run_time = datetime.fromtimestamp(int(text(millis)) / 1000, schedule.create_time.tzinfo)
            schedules.append(schedule)
        return schedules

    def claim_schedule(self, schedule_id: str, due: datetime, next_due: datetime) -> bool:
        _, next_key = self._schedule_keys()
        with provider_errors("claim_schedule"):
            return bool(
                self._conn.run_script(
                    self._conn.script(CLAIM_SCHEDULE),
                    [next_key],
                    [schedule_id, str(to_millis(due)), str(to_millis(next_due))],
                )
            )


class RedisWaitLists:
    """The ``SupportsWaitLists`` part of the Redis persistence provider: ``P wait:<key>`` sorted sets."""

    _conn: RedisConnection

    def add_waiter(self, key: str, workflow_id: str, score: float) -> None:
        with provider_errors("add_waiter"):  # replicated: an instance's place in line survives a failover
            self._conn.execute_replicated("ZADD", self._conn.key("wait:", key), "NX", repr(score), workflow_id)

    def oldest_waiter(self, key: str) -> tuple[str, float] | None:
        with provider_errors("oldest_waiter"):
            reply = self._conn.execute("ZRANGE", self._conn.key("wait:", key), 0, 0, "WITHSCORES")
        if not reply:
            return None
        # RESP3 pairs (or redis-py's pairs, through a cluster client), or RESP2 flat
        member, score = reply[0] if isinstance(reply[0], (list, tuple)) else reply
        return text(member), float(text(score))

    def remove_waiter(self, key: str, workflow_id: str) -> None:
        with provider_errors("remove_waiter"):
            self._conn.execute("ZREM", self._conn.key("wait:", key), workflow_id)
