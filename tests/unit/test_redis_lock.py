"""RedisLockProvider against a real Redis: exclusivity, safe release, lease renewal and expiry."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.connection import Connection
from redis_faults import lose_replies
from waiting import wait_until

from liteflow.core.errors import ProviderError
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
    a, b = owners(lease=30), owners()  # a renews only every 10 s: it cannot set the key again meanwhile
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
    a = owners()
    assert a.acquire_lock("wf")
    raw.set(f"{redis_cleanup}lock:wf", "b-token", px=30_000)  # a's lease lapsed and b took over
    assert wait_until(lambda: "wf" not in a.held(), timeout=5)  # a's renewer finds it is no longer its own
    assert raw.get(f"{redis_cleanup}lock:wf") == "b-token"
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


@pytest.fixture
def lost_replies(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``lose(n)``: the replies to the next ``n`` lock commands are lost (the server did run them)."""
    return lose_replies(monkeypatch, b"lock:")


def test_an_acquisition_whose_answer_was_lost_is_taken_and_renewed(
    owners: Callable[..., RedisLockProvider],
    raw: redis.Redis,
    redis_cleanup: str,
    lost_replies: Callable[[int], None],
) -> None:
    """The command is sent again on a fresh connection; the lock it set is found to be its own."""
    a = owners()
    lost_replies(1)
    assert a.acquire_lock("wf") is True
    assert "wf" in a.held()
    time.sleep(LEASE * 3)
    assert raw.exists(f"{redis_cleanup}lock:wf")  # renewed
    a.release_lock("wf")
    assert not raw.exists(f"{redis_cleanup}lock:wf")


def test_an_acquisition_whose_outcome_stayed_unknown_is_freed_once_the_server_answers(
    owners: Callable[..., RedisLockProvider],
    raw: redis.Redis,
    redis_cleanup: str,
    lost_replies: Callable[[int], None],
) -> None:
    a, b = owners(lease=30), owners(lease=30)
    lost_replies(2)  # the attempt and its resend: the caller is told it failed, yet the lock is set
    with pytest.raises(ProviderError):
        a.acquire_lock("wf")
    assert wait_until(lambda: not raw.exists(f"{redis_cleanup}lock:wf"), timeout=5)  # not a 30 s stall
    assert b.acquire_lock("wf") is True


@pytest.fixture
def unsent(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``fail(n)``: the next ``n`` commands fail before reaching the server (it is out of reach)."""
    original = Connection.send_packed_command
    left = [0]

    def failing(self: Connection, *args: object, **kwargs: object) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise redis.ConnectionError("Connection refused (simulated)")
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Connection, "send_packed_command", failing)
    return lambda n: left.__setitem__(0, n)


def test_a_release_the_server_did_not_get_is_done_once_it_answers(
    owners: Callable[..., RedisLockProvider], unsent: Callable[[int], None]
) -> None:
    a, b = owners(lease=30), owners(lease=30)
    assert a.acquire_lock("wf")
    unsent(2)  # the release and its resend
    a.release_lock("wf")  # does not raise: the release is handed to the renewal thread
    assert wait_until(lambda: b.acquire_lock("wf"), timeout=5)  # not after the 30 s lease


def test_a_lock_the_server_lost_is_set_again_with_the_same_token(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    """A restart without the lock's key (or a lease run out while the server was out of reach): the
    holder's next renewal sets it again, so no other host takes over a workflow still being run."""
    a = owners()
    assert a.acquire_lock("wf")
    key = f"{redis_cleanup}lock:wf"
    token = raw.get(key)
    raw.delete(key)
    assert wait_until(lambda: raw.get(key) == token, timeout=5)
    assert 0 < raw.pttl(key) <= LEASE * 1000
    assert "wf" in a.held()


def test_thousands_of_held_locks_are_all_renewed_within_their_lease(
    owners: Callable[..., RedisLockProvider], raw: redis.Redis, redis_cleanup: str
) -> None:
    lease, count = 1.0, 4000
    a = owners(lease=lease)
    resources = [f"wf-{i}" for i in range(count)]
    for resource in resources:
        assert a.acquire_lock(resource)
    keys = [f"{redis_cleanup}lock:{resource}" for resource in resources]
    deadline = time.monotonic() + lease * 3
    while time.monotonic() < deadline:
        pipe = raw.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        ttls = pipe.execute()
        assert min(ttls) > 0, f"{sum(t <= 0 for t in ttls)} of {count} locks lapsed while held"
        time.sleep(lease / 4)
    assert a.held() == set(resources)
