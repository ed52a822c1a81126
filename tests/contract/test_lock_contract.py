"""The LockProvider contract, run against every registered implementation (see conftest.py).

Each provider object is one owner; ``lock_owners.new()`` makes owners competing for the same locks.
Leases are short (0.5 s) where lapsing matters; waits are loose.
"""

from __future__ import annotations

import time
from typing import Any

from liteflow.core.interfaces import LockProvider

LEASE = 0.5


def acquire_within(owner: Any, resource: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if owner.acquire_lock(resource):
            return True
        time.sleep(0.05)
    return False


def test_implements_the_protocol(lock_owners: Any) -> None:
    assert isinstance(lock_owners.new(), LockProvider)


def test_lock_is_exclusive_between_owners(lock_owners: Any) -> None:
    a, b = lock_owners.new(), lock_owners.new()
    assert a.acquire_lock("wf-1") is True
    assert b.acquire_lock("wf-1") is False


def test_release_lets_the_other_owner_acquire(lock_owners: Any) -> None:
    a, b = lock_owners.new(), lock_owners.new()
    assert a.acquire_lock("wf-1")
    a.release_lock("wf-1")
    assert b.acquire_lock("wf-1") is True
    assert a.acquire_lock("wf-1") is False


def test_locks_are_not_reentrant(lock_owners: Any) -> None:
    a = lock_owners.new()
    assert a.acquire_lock("wf-1") is True
    assert a.acquire_lock("wf-1") is False
    a.release_lock("wf-1")
    assert a.acquire_lock("wf-1") is True


def test_different_resources_are_independent(lock_owners: Any) -> None:
    a, b = lock_owners.new(), lock_owners.new()
    assert a.acquire_lock("wf-1") is True
    assert b.acquire_lock("wf-2") is True


def test_releasing_a_lock_you_do_not_own_does_nothing(lock_owners: Any) -> None:
    a, b = lock_owners.new(), lock_owners.new()
    assert a.acquire_lock("wf-1")
    b.release_lock("wf-1")
    b.release_lock("never-locked")
    assert b.acquire_lock("wf-1") is False
    a.release_lock("wf-1")
    assert b.acquire_lock("wf-1") is True


def test_a_held_lock_outlives_its_lease_while_the_owner_renews_it(lock_owners: Any) -> None:
    a, b = lock_owners.new(LEASE), lock_owners.new(LEASE)
    assert a.acquire_lock("wf-1")
    time.sleep(LEASE * 3)
    assert b.acquire_lock("wf-1") is False


def test_a_lock_whose_owner_stopped_renewing_lapses_after_the_lease(lock_owners: Any) -> None:
    a, b = lock_owners.new(LEASE), lock_owners.new(LEASE)
    assert a.acquire_lock("wf-1")
    lock_owners.stop(a)  # closed without releasing: no more renewals
    assert b.acquire_lock("wf-1") is False
    assert acquire_within(b, "wf-1", LEASE + 4.0) is True


def test_answers_the_start_up_check(lock_owners: Any) -> None:
    from liteflow.core.interfaces import HealthCheck

    owner = lock_owners.new()
    assert isinstance(owner, HealthCheck)  # host.start() pings it once
    owner.ping(5.0)
    assert owner.describe()
