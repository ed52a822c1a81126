"""RedisQueueProvider against a real Redis: no duplicates, FIFO, blocking dequeue that wakes promptly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from liteflow.core.interfaces import QueueType
from liteflow.providers.redis import RedisQueueProvider

pytestmark = pytest.mark.redis

WF, EV = QueueType.WORKFLOW, QueueType.EVENT


@pytest.fixture
def queue(redis_url: str, redis_cleanup: str) -> Iterator[RedisQueueProvider]:
    provider = RedisQueueProvider(redis_url, prefix=redis_cleanup)
    yield provider
    provider.close()


def drain(queue: RedisQueueProvider, kind: QueueType) -> list[str]:
    items = []
    while (item := queue.dequeue_work(kind, 0)) is not None:
        items.append(item)
    return items


def test_an_id_already_queued_is_not_queued_again(queue: RedisQueueProvider) -> None:
    for item in ("a", "b", "a", "c", "b", "a"):
        queue.queue_work(item, WF)
    assert drain(queue, WF) == ["a", "b", "c"]


def test_an_id_can_be_queued_again_once_dequeued(queue: RedisQueueProvider) -> None:
    queue.queue_work("a", WF)
    assert queue.dequeue_work(WF, 1) == "a"
    queue.queue_work("a", WF)
    assert queue.dequeue_work(WF, 1) == "a"


def test_queues_are_fifo_and_separate_per_type(queue: RedisQueueProvider) -> None:
    for i in range(20):
        queue.queue_work(f"w{i}", WF)
    queue.queue_work("w0", EV)  # same id, other queue: queued there
    assert drain(queue, WF) == [f"w{i}" for i in range(20)]
    assert drain(queue, EV) == ["w0"]


def test_providers_sharing_a_prefix_share_queues_and_other_prefixes_do_not(
    redis_url: str, redis_cleanup: str, queue: RedisQueueProvider
) -> None:
    other_node = RedisQueueProvider(redis_url, prefix=redis_cleanup)
    stranger = RedisQueueProvider(redis_url, prefix=redis_cleanup + "other:")
    try:
        queue.queue_work("x", WF)
        other_node.queue_work("x", WF)  # a duplicate from another node is refused too
        assert stranger.dequeue_work(WF, 0.05) is None
        assert other_node.dequeue_work(WF, 1) == "x"
        assert queue.dequeue_work(WF, 0) is None
    finally:
        other_node.close()
        stranger.close()


def test_blocking_dequeue_on_an_empty_queue_returns_none_after_about_the_timeout(
    queue: RedisQueueProvider,
) -> None:
    started = time.monotonic()
    assert queue.dequeue_work(WF, 0.3) is None
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2.0


def test_blocking_dequeue_longer_than_the_default_socket_timeout(queue: RedisQueueProvider) -> None:
    """redis-py's default socket timeout (5 s) must not abort a longer block: a URL gets its own pool."""
    queue.queue_work("late", WF)
    drain(queue, WF)
    timer = threading.Timer(5.6, queue.queue_work, args=("late", WF))
    timer.start()
    try:
        assert queue.dequeue_work(WF, 8) == "late"
    finally:
        timer.cancel()
        timer.join()  # its queue_work may still be reading its reply


def test_dequeue_wakes_promptly_when_another_thread_queues(queue: RedisQueueProvider) -> None:
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.dequeue_work(WF, 10)))
    waiter.start()
    time.sleep(0.2)  # let it block
    queued_at = time.monotonic()
    queue.queue_work("wake", WF)
    waiter.join(5)
    assert not waiter.is_alive()
    assert got == ["wake"]
    assert time.monotonic() - queued_at < 1.0


def test_zero_timeout_does_not_block(queue: RedisQueueProvider) -> None:
    started = time.monotonic()
    assert queue.dequeue_work(WF, 0) is None
    assert time.monotonic() - started < 0.5


def test_a_client_passed_in_is_used_and_its_socket_timeout_caps_the_block(redis_url: str, redis_cleanup: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=1.0, decode_responses=True)
    provider = RedisQueueProvider(client, prefix=redis_cleanup)
    try:
        started = time.monotonic()
        assert provider.dequeue_work(WF, 5) is None  # capped below 1 s instead of a socket timeout error
        assert time.monotonic() - started < 1.0
        provider.queue_work("a", WF)
        assert provider.dequeue_work(WF, 0.5) == "a"
    finally:
        provider.close()
    assert client.ping()  # close() left the caller's client open
    client.close()


def test_dequeue_after_close_returns_none(redis_url: str, redis_cleanup: str) -> None:
    provider = RedisQueueProvider(redis_url, prefix=redis_cleanup)
    provider.queue_work("a", WF)
    provider.close()
    assert provider.dequeue_work(WF, 1) is None


def test_interrupt_wakes_blocked_dequeues_at_once_and_leaves_other_clients_alone(
    queue: RedisQueueProvider, redis_url: str, redis_cleanup: str
) -> None:
    other = RedisQueueProvider(redis_url, prefix=redis_cleanup)
    results: dict[str, object] = {}

    def wait(name: str, provider: RedisQueueProvider) -> None:
        started = time.monotonic()
        results[name] = (provider.dequeue_work(WF, 5.0), time.monotonic() - started)

    threads = [threading.Thread(target=wait, args=(f"ours{i}", queue)) for i in range(2)]
    threads.append(threading.Thread(target=wait, args=("theirs", other)))
    for t in threads:
        t.start()
    time.sleep(0.3)  # all three blocked on the server
    queue.interrupt()
    for t in threads[:2]:
        t.join(timeout=2)
        assert not t.is_alive()
    assert all(results[f"ours{i}"][0] is None and results[f"ours{i}"][1] < 2 for i in range(2))  # type: ignore[index]
    assert "theirs" not in results  # another provider's dequeue still waits
    queue.queue_work("x", WF)
    threads[2].join(timeout=2)
    assert results["theirs"][0] == "x"  # type: ignore[index]
    other.close()


@pytest.mark.parametrize(
    "refusal",
    [
        redis.ResponseError("unknown command 'BZMPOP', with args beginning with: "),  # a server before 7
        redis.RedisError("BZMPOP command doesn't exist in Redis commands"),  # a cluster client's table
    ],
)
def test_dequeue_many_falls_back_where_the_server_has_no_bzmpop(
    queue: RedisQueueProvider, refusal: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = queue._conn.blocking()
    real = client.execute_command

    def without_bzmpop(*args: object, **options: object) -> object:
        if args and args[0] == "BZMPOP":
            raise refusal
        return real(*args, **options)

    monkeypatch.setattr(client, "execute_command", without_bzmpop)
    for item in ("a", "b", "c"):
        queue.queue_work(item, EV)
    assert queue.dequeue_many(EV, 2, 1.0) == ["a", "b"]  # a blocking pop of one, then a pop of the rest
    assert queue.dequeue_many(EV, 2, 1.0) == ["c"]
    assert queue.dequeue_many(EV, 2, 0.1) == []


def test_a_non_blocking_dequeue_answers_the_id_on_either_protocol(redis_url: str, redis_cleanup: str) -> None:
    for protocol in (2, 3):
        client = redis.Redis.from_url(redis_url, protocol=protocol)
        provider = RedisQueueProvider(client, prefix=redis_cleanup)
        provider.queue_work("abc", WF)
        assert provider.dequeue_work(WF, 0) == "abc"
        assert provider.dequeue_work(WF, 0) is None
        provider.close()
        client.close()


def test_the_server_of_a_sentinel_pool_is_not_known() -> None:
    from redis.sentinel import Sentinel

    from liteflow.providers.redis.connection import RedisConnection

    sentinel = Sentinel([("127.0.0.1", 1)])
    store, work = RedisConnection(sentinel.master_for("store")), RedisConnection(sentinel.master_for("queue"))
    assert store.server() is None and work.server() is None  # not taken for one server
    same, other_db, other_user = (
        RedisConnection(url)
        for url in ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1", "redis://other:secret@127.0.0.1:6379/0")
    )
    plain = RedisConnection("redis://127.0.0.1:6379/0")
    try:
        assert plain.server() == same.server() is not None
        assert plain.server() != other_db.server()
        assert plain.server() != other_user.server()
    finally:
        for connection in (store, work, same, other_db, other_user, plain):
            connection.close()
