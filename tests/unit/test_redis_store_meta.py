"""The store's record of its shard count, and a store of the layout before shards refused: what a Redis
provider checks of its store when it is made (liteflow.providers.redis.meta), on one server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from liteflow.core import configure_workflow_host
from liteflow.core.models import WorkflowInstance
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider
from liteflow.providers.redis.connection import RedisConnection

pytestmark = pytest.mark.redis


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_the_first_provider_records_the_shard_count_and_the_same_count_opens_again(
    redis_url: str, redis_cleanup: str, raw: redis.Redis
) -> None:
    first = RedisPersistenceProvider(redis_url + "?shards=4", prefix=redis_cleanup)
    assert raw.get(redis_cleanup + "meta:shards") == b"4"
    second = RedisPersistenceProvider(redis_url, prefix=redis_cleanup, shards=4)  # the same count, given otherwise
    try:
        instance = WorkflowInstance(workflow_definition_id="S", version=1)
        first.create_workflow(instance)
        assert second.get_workflow_instance(instance.id).id == instance.id
        assert second.count_workflows() == 1
    finally:
        first.close()
        second.close()
    assert raw.get(redis_cleanup + "meta:shards") == b"4"


@pytest.mark.parametrize("other", [{"shards": 32}, {"shards": 1}, {}])
def test_a_provider_opened_with_another_count_is_refused_naming_both(
    redis_url: str, redis_cleanup: str, raw: redis.Redis, other: dict[str, Any]
) -> None:
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup, shards=8).close()
    asked = other.get("shards", 16)  # none asked for: the default, 16
    with pytest.raises(ValueError) as refused:
        RedisPersistenceProvider(redis_url, prefix=redis_cleanup, **other)
    message = str(refused.value)
    assert f"was made with 8 shards ({redis_cleanup}meta:shards = 8)" in message
    assert f"opened with {asked}:" in message
    assert "Open it with shards=8" in message and "?shards=8" in message
    assert "new prefix" in message
    assert raw.get(redis_cleanup + "meta:shards") == b"8"  # the store keeps its count


def test_a_mismatched_url_option_fails_configure_workflow_host(redis_url: str, redis_cleanup: str) -> None:
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup).close()
    with pytest.raises(ValueError, match=r"was made with 16 shards .* opened with 2:"):
        configure_workflow_host(persistence=redis_url + "?shards=2", prefix=redis_cleanup)


def test_queues_and_locks_neither_record_nor_check_the_count(
    redis_url: str, redis_cleanup: str, raw: redis.Redis
) -> None:
    queue = RedisQueueProvider(redis_url + "?shards=3", prefix=redis_cleanup)
    lock = RedisLockProvider(redis_url + "?shards=3", prefix=redis_cleanup)
    assert raw.get(redis_cleanup + "meta:shards") is None  # they are not sharded
    persistence = RedisPersistenceProvider(redis_url, prefix=redis_cleanup, shards=5)
    assert raw.get(redis_cleanup + "meta:shards") == b"5"
    for provider in (queue, lock, persistence):
        provider.close()
    RedisQueueProvider(redis_url, prefix=redis_cleanup).close()  # a queue beside a 5-shard store is fine


def _old_key(raw: redis.Redis, key: str) -> None:
    """A key as the layout before shards stored it (of the type it had)."""
    if key.endswith(("event", "schedule")):
        raw.hset(key, "some-id", "{}")
    elif key.endswith("queue:seq"):
        raw.incr(key)
    else:
        raw.zadd(key, {"some-id": 1.0})


@pytest.mark.parametrize(
    "name",
    [
        "idx:status:Runnable",
        "idx:status:Suspended",
        "idx:status:Complete",
        "idx:status:Terminated",
        "event",
        "schedule",
    ],
)
def test_a_store_of_the_layout_before_shards_is_refused_by_the_persistence_provider(
    redis_url: str, redis_cleanup: str, raw: redis.Redis, name: str
) -> None:
    _old_key(raw, redis_cleanup + name)
    with pytest.raises(ValueError) as refused:
        RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    message = str(refused.value)
    assert "previous layout, from before the sharded one" in message
    assert f"({redis_cleanup}{name})" in message
    assert "Drain it" in message and "new prefix" in message and "no automatic migration" in message
    assert '"An existing install"' in message  # where the README says what to do
    assert raw.get(redis_cleanup + "meta:shards") is None  # a refused store is left as it was
    raw.delete(redis_cleanup + name)
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup).close()  # once it is gone, the store opens


def test_a_key_of_an_old_name_but_another_type_is_not_taken_for_the_old_layout(
    redis_url: str, redis_cleanup: str, raw: redis.Redis
) -> None:
    raw.set(redis_cleanup + "event", "another program's")  # the old event key was a hash
    raw.hset(redis_cleanup + "queue:seq", "x", "1")  # the old queue counter was a string
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup).close()
    RedisQueueProvider(redis_url, prefix=redis_cleanup).close()


def test_a_store_with_the_queues_of_the_layout_before_shards_is_refused_by_the_queue_provider(
    redis_url: str, redis_cleanup: str, raw: redis.Redis
) -> None:
    _old_key(raw, redis_cleanup + "queue:seq")
    with pytest.raises(ValueError, match=rf"previous layout.*\({redis_cleanup}queue:seq\)"):
        RedisQueueProvider(redis_url, prefix=redis_cleanup)
    RedisLockProvider(redis_url, prefix=redis_cleanup).close()  # locks kept their keys: nothing to refuse


def test_the_check_is_one_pipeline_when_made_and_nothing_afterwards(
    redis_url: str, redis_cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[list[tuple[Any, ...]]] = []
    probe = RedisConnection.probe

    def recording(self: RedisConnection, commands: Any, timeout: float) -> list[Any]:
        probes.append([tuple(command) for command in commands])
        return probe(self, commands, timeout)

    monkeypatch.setattr(RedisConnection, "probe", recording)
    store = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    queue = RedisQueueProvider(redis_url, prefix=redis_cleanup)
    try:
        # a new store: the old keys and the count; no count yet, so it is recorded
        names = [sorted({command[0] for command in p}) for p in probes]
        assert names == [["GET", "TYPE"], ["GET", "SET"], ["TYPE"]]
        instance = WorkflowInstance(workflow_definition_id="S", version=1)
        store.create_workflow(instance)
        store.persist_workflow(store.get_workflow_instance(instance.id))
        store.ping(2.0)  # done once: the ping does not check again
        assert len(probes) == 3
        RedisPersistenceProvider(redis_url, prefix=redis_cleanup).close()  # recorded: one pipeline
        assert [sorted({command[0] for command in p}) for p in probes[3:]] == [["GET", "TYPE"]]
    finally:
        store.close()
        queue.close()


def test_a_server_away_when_the_provider_is_made_defers_the_check_to_the_ping(redis_cleanup: str) -> None:
    """Nothing listens on port 1: the constructor does not fail (host.start() reports the store away)."""
    store = RedisPersistenceProvider("redis://127.0.0.1:1/0", prefix=redis_cleanup, shards=3)
    try:
        assert store._store_check is not None and not store._store_check.done
        assert store.shards == 3
    finally:
        store.close()


def test_a_recorded_count_is_only_read(
    redis_url: str, redis_cleanup: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once recorded, opening sends no write (a replica, a read-only user, or a full server still opens)."""
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup, shards=4).close()
    sent: list[str] = []
    probe = RedisConnection.probe

    def spy(self: RedisConnection, commands: Any, timeout: float) -> Any:
        sent.extend(str(command[0]) for command in commands)
        return probe(self, commands, timeout)

    monkeypatch.setattr(RedisConnection, "probe", spy)
    RedisPersistenceProvider(redis_url, prefix=redis_cleanup, shards=4).close()
    assert "GET" in sent and "SET" not in sent
