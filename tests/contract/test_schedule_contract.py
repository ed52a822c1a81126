"""The SupportsSchedules contract, run against every persistence provider (see conftest.py)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from liteflow.core.interfaces import SupportsSchedules
from liteflow.core.schedules import Schedule, new_schedule

T0 = datetime(2024, 5, 17, 9, 30, 15, 123000, tzinfo=timezone.utc)


def _every(schedule_id: str = "s1", seconds: float = 60) -> Schedule:
    return new_schedule(schedule_id, "Report", None, timedelta(seconds=seconds), {"n": 1}, None, "UTC", now=T0)


def test_stores_schedules(persistence: Any) -> None:
    assert isinstance(persistence, SupportsSchedules)
    assert persistence.get_schedules() == []
    first = _every("b")
    second = new_schedule("a", "Nightly", "0 2 * * *", None, None, 2, "Europe/Paris", now=T0)
    persistence.save_schedule(first)
    persistence.save_schedule(second)
    assert persistence.get_schedules() == [second, first]  # by id
    assert persistence.get_schedules()[1].next_run_time == T0 + timedelta(seconds=60)
    assert persistence.get_schedules()[0].next_run_time == datetime(2024, 5, 18, 0, 0, tzinfo=timezone.utc)


def test_saving_an_id_again_replaces_it(persistence: Any) -> None:
    persistence.save_schedule(_every("s1", 60))
    replacement = _every("s1", 5)
    persistence.save_schedule(replacement)
    assert persistence.get_schedules() == [replacement]


def test_delete_says_whether_there_was_one(persistence: Any) -> None:
    persistence.save_schedule(_every("s1"))
    assert persistence.delete_schedule("s1") is True
    assert persistence.delete_schedule("s1") is False
    assert persistence.get_schedules() == []


def test_a_due_time_is_claimed_once(persistence: Any) -> None:
    schedule = _every("s1")
    persistence.save_schedule(schedule)
    due = schedule.next_run_time
    later = due + timedelta(seconds=60)
    assert persistence.claim_schedule("s1", due, later) is True
    assert persistence.claim_schedule("s1", due, later) is False  # already moved on
    assert persistence.get_schedules()[0].next_run_time == later
    assert persistence.claim_schedule("missing", due, later) is False


def test_racing_claims_have_one_winner(persistence: Any) -> None:
    schedule = _every("s1")
    persistence.save_schedule(schedule)
    due = schedule.next_run_time
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        wins.append(persistence.claim_schedule("s1", due, due + timedelta(seconds=60 + i)))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


def test_wait_lines_keep_the_oldest_first(persistence: Any) -> None:
    from liteflow.core.interfaces import SupportsWaitLists

    assert isinstance(persistence, SupportsWaitLists)
    assert persistence.oldest_waiter("Def:c1") is None
    persistence.add_waiter("Def:c1", "late", 200.5)
    persistence.add_waiter("Def:c1", "early", 100.25)
    persistence.add_waiter("Def:c2", "other", 1.0)
    persistence.add_waiter("Def:c1", "early", 999.0)  # already in line: keeps its place
    assert persistence.oldest_waiter("Def:c1") == ("early", 100.25)
    persistence.remove_waiter("Def:c1", "early")
    persistence.remove_waiter("Def:c1", "never-there")
    assert persistence.oldest_waiter("Def:c1") == ("late", 200.5)
    persistence.remove_waiter("Def:c1", "late")
    assert persistence.oldest_waiter("Def:c1") is None
    assert persistence.oldest_waiter("Def:c2") == ("other", 1.0)
