"""RedisLockProvider against a real Redis: exclusivity, safe release, lease renewal and expiry."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from liteflow.providers.redis import RedisLockProvider

pytestmark = pytest.mark.redis

LEASE = 0.5


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def owners(redis_url: str, redis_cleanup: str) -> Iterator[Callable[..., RedisLockProvider]]:
    made: list[RedisLockProvider] = []

    def make(lease: float = LEASE) -> RedisLockProvider:
        owner = RedisLockProvider(redis_url, prefix=redis_cleanup, lease=lease)
        made.append(owner)
        return owner

    yield make
    for owner in made:
        owner.close()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_lock_has_one_owner_at_a_time(owners: Callable[..., RedisLockProvider]) -> None:
    a, b = owners(lease=10), owners(lease=10)
    assert a.acquire_lock("wf-1")
    assert not b.acquire_lock("wf-1")
    assert b.acquire_lock("wf-2")  # other resources are independent
    a.release_lock("wf-1")
    assert b.acquire_lock("wf-1")
    assert not a.acquire_lock("wf-1")


def test_not_reentrant(owners: Callable[..., RedisLockProvider]) -> None:
    a = owners(lease=10)
    assert a.acquire_lock("wf")
    assert not a.acquire_lock("wf")
    a.release_lock("wf")
    assert a.acquire_lock("wf")


def test_release_by_another_owner_leaves_the_lock_alone(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    a, b = owners(lease=10), owners(lease=10)
    assert a.acquire_lock("wf")
    holder = raw.get(f"{redis_cleanup}lock:wf")
    b.release_lock("wf")
    assert raw.get(f"{redis_cleanup}lock:wf") == holder
    assert not b.acquire_lock("wf")


def test_stale_owner_release_does_not_free_the_new_owners_lock(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    a, b = owners(), owners()
    assert a.acquire_lock("wf")
    raw.delete(f"{redis_cleanup}lock:wf")  # a's lease lapsed (e.g. it stalled) ...
    assert b.acquire_lock("wf")  # ... and b took over
    a.release_lock("wf")  # a wakes up and releases: must not free b's lock
    assert not a.acquire_lock("wf")
    assert raw.exists(f"{redis_cleanup}lock:wf")


def test_the_lease_is_renewed_while_held(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    a, b = owners(), owners()
    assert a.acquire_lock("wf")
    time.sleep(LEASE * 4)  # a long step: four leases
    assert not b.acquire_lock("wf")
    ttl = raw.pttl(f"{redis_cleanup}lock:wf")
    assert 0 < ttl <= LEASE * 1000


def test_a_stopped_owners_lock_expires_after_its_lease(owners: Callable[..., RedisLockProvider]) -> None:
    a, b = owners(), owners()
    assert a.acquire_lock("wf")
    a.close()  # dies without releasing: nobody renews any more
    started = time.monotonic()
    assert wait_until(lambda: b.acquire_lock("wf"), timeout=5)
    assert time.monotonic() - started < LEASE * 4


def test_an_owner_whose_lock_was_taken_stops_renewing_it(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    a, b = owners(), owners(lease=30)
    assert a.acquire_lock("wf")
    raw.delete(f"{redis_cleanup}lock:wf")
    assert b.acquire_lock("wf")
    time.sleep(LEASE)  # a's renewer finds the lock is no longer its own
    assert raw.pttl(f"{redis_cleanup}lock:wf") > 20_000  # b's lease untouched by a's renewals
    assert not a.acquire_lock("wf")


def test_keys_are_prefixed_and_released_locks_leave_no_key(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    a = owners(lease=10)
    assert a.acquire_lock("wf:with:colons")
    assert raw.exists(f"{redis_cleanup}lock:wf:with:colons")
    a.release_lock("wf:with:colons")
    assert list(raw.scan_iter(match=redis_cleanup + "lock:*")) == []


def test_a_client_passed_in_is_not_closed(redis_url: str, redis_cleanup: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    a = RedisLockProvider(client, prefix=redis_cleanup, lease=10)
    assert a.acquire_lock("wf")
    a.release_lock("wf")
    a.close()
    assert client.ping()
    client.close()


def test_lease_must_be_positive(redis_url: str) -> None:
    with pytest.raises(ValueError):
        RedisLockProvider(redis_url, lease=0)
