"""The LockProvider contract, run against every registered implementation (see conftest.py).

Each provider object is one owner; ``lock_owners.new()`` makes owners competing for the same locks.
Leases are short (0.5 s) where lapsing matters; waits are loose.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from liteflow.core.interfaces import LockProvider

LEASE = 0.5
T = TypeVar("T")


class Worker:
    """One worker thread of a host: every call made through it runs on that same thread."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1)

    def __call__(self, fn: Callable[[], T]) -> T:
        return self._thread.submit(fn).result(timeout=30)

    def close(self) -> None:
        self._thread.shutdown()


def stop_renewing(owner: Any) -> None:
    """The owner's renewals stop, as they would while its store is out of reach: its leases lapse. For
    providers built on ``liteflow.core.lease.LeasedLocks`` (each acquisition then restarts them)."""
    renewer = getattr(owner, "_renewer", None)
    if renewer is None:
        pytest.skip("no way to stop this provider's renewals")
    renewer.stop()


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


def test_after_a_lapse_the_first_holders_release_leaves_the_second_holders_lock(lock_owners: Any) -> None:
    """Two workers of one host (one provider object): the first's lease lapsed and the second took the
    lock; when the first's step returns, its release must not free the second's lock."""
    host, other = lock_owners.new(LEASE), lock_owners.new(LEASE)
    first, second = Worker(), Worker()
    try:
        assert first(lambda: host.acquire_lock("wf-1")) is True
        stop_renewing(host)
        assert second(lambda: acquire_within(host, "wf-1", LEASE + 4.0)) is True
        first(lambda: host.release_lock("wf-1"))
        assert other.acquire_lock("wf-1") is False
        time.sleep(LEASE * 2)  # the second's lease is still renewed
        assert other.acquire_lock("wf-1") is False
        second(lambda: host.release_lock("wf-1"))
        assert other.acquire_lock("wf-1") is True
    finally:
        first.close()
        second.close()


def test_a_release_by_token_frees_that_acquisition_only(lock_owners: Any) -> None:
    host, other = lock_owners.new(LEASE), lock_owners.new(LEASE)
    if not hasattr(host, "acquire_lock_token"):
        pytest.skip("no token API")
    token = host.acquire_lock_token("wf-1")
    assert token is not None
    assert host.acquire_lock_token("wf-1") is None
    host.release_lock("wf-1", "some-other-token")
    assert other.acquire_lock("wf-1") is False
    host.release_lock("wf-1", token)
    assert other.acquire_lock("wf-1") is True
