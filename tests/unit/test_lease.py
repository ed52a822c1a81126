"""LeaseRenewer and LeasedLocks: renews what is held, by token; frees what a lost answer or a failed
release left behind; a failed round is tried again soon."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from waiting import wait_until

from liteflow.core.lease import Hold, LeaseRenewer
from liteflow.providers.memory import MemoryLockProvider


def test_a_lock_released_and_taken_again_during_a_failed_renewal_stays_held() -> None:
    calls: list[list[Hold]] = []
    renewed_again = threading.Event()
    renewer: LeaseRenewer

    def renew(holds: Sequence[Hold]) -> list[bool]:
        calls.append(list(holds))
        if len(calls) == 1:  # the first renewal fails, because meanwhile the lock was released ...
            renewer.forget("t1")
            renewer.hold("r", "t2")  # ... and taken again: a new hold, which this failure must not drop
            return [False]
        renewed_again.set()
        return [True] * len(holds)

    renewer = LeaseRenewer(0.03, renew)
    renewer.hold("r", "t1")
    assert renewed_again.wait(2), "the new hold was not renewed"
    assert renewer.holds() == [("r", "t2")]
    renewer.stop()


def test_a_lock_lost_is_forgotten_and_no_longer_renewed() -> None:
    calls: list[list[Hold]] = []
    renewer = LeaseRenewer(0.03, lambda holds: calls.append(list(holds)) or [False] * len(holds))
    renewer.hold("r", "t1")
    assert wait_until(lambda: "r" not in renewer.held(), timeout=3)
    seen = len(calls)
    time.sleep(0.05)
    assert len(calls) == seen == 1
    renewer.stop()


def test_many_holds_are_renewed_in_one_call_per_round() -> None:
    rounds: list[int] = []
    renewer = LeaseRenewer(0.03, lambda holds: rounds.append(len(holds)) or [True] * len(holds))
    for i in range(1000):
        renewer.hold(f"r{i}", f"t{i}")
    assert wait_until(lambda: len(rounds) >= 2, timeout=3)
    renewer.stop()
    assert rounds[1] == 1000


def test_a_failed_round_is_tried_again_well_before_the_next_regular_round() -> None:
    attempts: list[float] = []

    def renew(holds: Sequence[Hold]) -> list[bool]:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ConnectionError("store away")
        return [True] * len(holds)

    renewer = LeaseRenewer(3.0, renew)  # a round every second
    renewer.hold("r", "t1")
    assert wait_until(lambda: len(attempts) >= 2, timeout=5)
    renewer.stop()
    assert attempts[1] - attempts[0] < 0.5  # not a whole interval later


def test_a_hold_released_while_its_renewal_was_on_its_way_is_freed_again() -> None:
    """The renewal may set a lock whose key the release just deleted: it is freed right after."""
    freed: list[Hold] = []
    renewer: LeaseRenewer

    def renew(holds: Sequence[Hold]) -> list[bool]:
        renewer.forget("t1")  # released during the round (after the key was read as held)
        return [True] * len(holds)

    renewer = LeaseRenewer(0.03, renew, free=lambda resource, token: freed.append((resource, token)))
    renewer.hold("r", "t1")
    assert wait_until(lambda: freed == [("r", "t1")], timeout=3)
    renewer.stop()


def test_an_acquisition_whose_outcome_is_unknown_is_freed_once_the_store_answers() -> None:
    answers = iter([ConnectionError("away"), ConnectionError("away"), True])
    freed: list[Hold] = []

    def free(resource: str, token: str) -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        freed.append((resource, token))
        return True

    renewer = LeaseRenewer(30.0, lambda holds: [True] * len(holds), free=free)
    renewer.free_later("r", "t1")
    assert wait_until(lambda: freed == [("r", "t1")], timeout=3)  # not after a 10 s round
    renewer.stop()


def test_a_release_by_token_frees_only_that_acquisition() -> None:
    table: dict[str, tuple[str, float]] = {}
    locks, other = MemoryLockProvider(lease=0.3, registry=table), MemoryLockProvider(lease=0.3, registry=table)
    first = locks.acquire_lock_token("wf")
    assert first is not None
    locks._renewer.stop()  # its renewals stop (the store is out of reach): the lease lapses
    deadline = time.monotonic() + 3
    second = None
    while second is None and time.monotonic() < deadline:
        second = locks.acquire_lock_token("wf")
        time.sleep(0.02)
    assert second is not None and second != first
    locks.release_lock("wf", first)  # the first holder's step returns at last
    assert other.acquire_lock("wf") is False  # the second still holds it
    time.sleep(0.6)  # two leases: the second's hold is renewed
    assert other.acquire_lock("wf") is False
    locks.release_lock("wf", second)
    assert other.acquire_lock("wf") is True
    locks.close()
    other.close()


def test_releases_without_a_token_free_one_threads_acquisitions_oldest_first() -> None:
    """One thread took a lock, its lease lapsed, and it took it again (say two asyncio tasks on one loop):
    the first release frees the lapsed acquisition, not the live one."""
    table: dict[str, tuple[str, float]] = {}
    locks, other = MemoryLockProvider(lease=30, registry=table), MemoryLockProvider(lease=30, registry=table)
    assert locks.acquire_lock("wf")
    table["wf"] = (table["wf"][0], time.monotonic() - 1)  # its lease ran out
    assert locks.acquire_lock("wf")
    locks.release_lock("wf")
    assert other.acquire_lock("wf") is False
    locks.release_lock("wf")
    assert other.acquire_lock("wf") is True
    locks.close()
    other.close()
