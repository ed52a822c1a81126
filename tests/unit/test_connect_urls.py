"""configure_workflow_host with URL strings (liteflow.core.services.urls)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import pytest

from liteflow.core import *
from liteflow.core.services.urls import redact, sqlite_path
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider


class Hello(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None)


def test_memory_url_gives_the_memory_providers() -> None:
    host = configure_workflow_host(persistence="memory://", queue="memory://", lock="memory://")
    assert isinstance(host.persistence, MemoryPersistenceProvider)
    assert isinstance(host.queue, MemoryQueueProvider)
    assert isinstance(host.lock, MemoryLockProvider)
    assert isinstance(configure_workflow_host(persistence="memory://").queue, MemoryQueueProvider)


@pytest.mark.redis
def test_a_redis_url_alone_gives_redis_persistence_queue_and_lock_under_the_prefix(
    redis_url: str, redis_cleanup: str
) -> None:
    import redis

    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    assert isinstance(host.persistence, RedisPersistenceProvider)
    assert isinstance(host.queue, RedisQueueProvider)
    assert isinstance(host.lock, RedisLockProvider)
    host.register_workflow(Hello())
    with host:
        wid = host.start_workflow("Hello")
        assert host.wait_for_workflow(wid).status is WorkflowStatus.COMPLETE
    client = redis.Redis.from_url(redis_url)
    try:
        keys = {k.decode() for k in client.scan_iter(match=redis_cleanup + "*")}
    finally:
        client.close()
    from liteflow.providers.redis.shards import Shards, tagged

    assert Shards(redis_cleanup).base(wid) + "wf:" + wid in keys
    assert tagged(redis_cleanup, "queue:workflow") + "seq" in keys  # the queue ran on Redis, under the same prefix
    for provider in (host.persistence, host.queue, host.lock):
        provider.close()


def test_rediss_and_passwords_are_kept_for_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("redis")
    import redis

    url = "rediss://ann:s3cret@cache.example.com:6380/2"
    host = configure_workflow_host(persistence=url, prefix="app:")
    pool = host.persistence.client.connection_pool  # type: ignore[attr-defined]
    assert pool.connection_class is redis.SSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "cache.example.com",
        6380,
        2,
        "s3cret",
    )
    assert host.lock._conn.prefix == "app:"  # type: ignore[attr-defined]
    assert redact(url) == "rediss://ann:***@cache.example.com:6380/2"


def test_a_mongodb_url_takes_its_database_from_the_path_and_warns_about_memory_queue_and_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mongomock

    import liteflow.providers.mongo.persistence as mongo_persistence

    made: list[Any] = []

    def client(url: str, **options: Any) -> Any:
        made.append(mongomock.MongoClient(tz_aware=True))
        return made[-1]

    monkeypatch.setattr(mongo_persistence, "MongoClient", client)
    with pytest.warns(UserWarning, match="MongoDB, which has no queue and lock"):
        host = configure_workflow_host(persistence="mongodb://db.example.com:27017/orders?replicaSet=rs0")
    assert isinstance(host.queue, MemoryQueueProvider) and isinstance(host.lock, MemoryLockProvider)
    host.persistence.ping(1.0)  # makes the indexes (the constructor sends nothing)
    assert made[0].list_database_names() == ["orders"]  # the indexes were made in the URL's database
    with pytest.warns(UserWarning):
        other = configure_workflow_host(persistence="mongodb+srv://cluster0.example.net")
    other.persistence.ping(1.0)
    assert made[1].list_database_names() == ["liteflow"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # queue and lock given: no warning
        configure_workflow_host(persistence="mongodb://db.example.com/x", queue="memory://", lock="memory://")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"persistence": "postgres://db/x"}, "unknown persistence URL scheme 'postgres'.*redis://.*sqlite://"),
        ({"persistence": "localhost:6379"}, "unknown persistence URL scheme 'localhost'"),
        ({"queue": "amqp://broker"}, "unknown queue URL scheme 'amqp'.*memory://, redis://"),
        ({"lock": "mongodb://db"}, "mongodb:// provides no lock"),
        ({"persistence": "memory://", "queue": "mongodb+srv://db"}, "mongodb\\+srv:// provides no queue"),
    ],
)
def test_an_unknown_scheme_is_a_value_error_naming_it_and_the_known_ones(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        configure_workflow_host(**kwargs)  # type: ignore[arg-type]


def test_the_password_never_reaches_the_error() -> None:
    with pytest.raises(ValueError) as raised:
        configure_workflow_host(persistence="postgres://ann:s3cret@db/x")
    assert "s3cret" not in str(raised.value) and "***" in str(raised.value)


def test_sqlite_paths_follow_sqlalchemy() -> None:
    assert sqlite_path("sqlite:///relative/liteflow.db") == "relative/liteflow.db"
    assert sqlite_path("sqlite:////var/lib/liteflow.db") == "/var/lib/liteflow.db"
    with pytest.raises(ValueError, match="names a file"):
        sqlite_path("sqlite://")


@pytest.mark.skipif(importlib.util.find_spec("liteflow.providers.sqlite") is None, reason="no SQLite provider")
def test_a_sqlite_url_gives_sqlite_persistence_queue_and_lock(tmp_path: Path) -> None:
    import liteflow.providers.sqlite as sqlite

    host = configure_workflow_host(persistence=f"sqlite:///{tmp_path / 'liteflow.db'}")
    assert isinstance(host.persistence, sqlite.SqlitePersistenceProvider)
    assert isinstance(host.queue, sqlite.SqliteQueueProvider)
    assert isinstance(host.lock, sqlite.SqliteLockProvider)
    host.register_workflow(Hello())
    with host:
        wid = host.start_workflow("Hello")
        assert host.wait_for_workflow(wid).status is WorkflowStatus.COMPLETE
    assert (tmp_path / "liteflow.db").exists()
