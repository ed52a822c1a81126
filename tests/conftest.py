"""Shared fixtures: service URLs (skip when a service is away, fail instead under
LITEFLOW_REQUIRE_SERVICES=1), and a key prefix of its own for every test (no test flushes a database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_URL = os.environ.get("LITEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: A Redis Cluster (``redis+cluster://host:port,...``; ``scripts/redis-cluster.sh start`` makes one): the
#: tests marked ``redis_cluster`` run on it; unset, they skip (fail under LITEFLOW_REQUIRE_SERVICES=1).
REDIS_CLUSTER_URL = os.environ.get("LITEFLOW_TEST_REDIS_CLUSTER_URL")
MONGO_URL = os.environ.get("LITEFLOW_TEST_MONGO_URL")
REQUIRE_SERVICES = os.environ.get("LITEFLOW_REQUIRE_SERVICES") == "1"


def _redis_answers() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:
        return False


_REDIS_OK: bool | None = None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a live Redis server; skips (or fails under LITEFLOW_REQUIRE_SERVICES=1) if none answers."""
    global _REDIS_OK
    if _REDIS_OK is None:
        _REDIS_OK = _redis_answers()
    if not _REDIS_OK:
        message = f"no Redis server answers at {REDIS_URL}"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (LITEFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return REDIS_URL


def _cluster_client() -> object:
    from redis.cluster import RedisCluster

    from liteflow.providers.redis.connection import client_from_url

    assert REDIS_CLUSTER_URL is not None
    client = client_from_url(REDIS_CLUSTER_URL, {"socket_connect_timeout": 2})
    assert isinstance(client, RedisCluster)
    return client


_CLUSTER_OK: bool | None = None


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """The URL of a live Redis Cluster (LITEFLOW_TEST_REDIS_CLUSTER_URL); skips when unset or away (fails
    instead under LITEFLOW_REQUIRE_SERVICES=1)."""
    global _CLUSTER_OK
    if REDIS_CLUSTER_URL is None:
        message = "LITEFLOW_TEST_REDIS_CLUSTER_URL is not set (scripts/redis-cluster.sh start makes a cluster)"
    else:
        if _CLUSTER_OK is None:
            try:
                client = _cluster_client()
                _CLUSTER_OK = bool(client.ping())  # type: ignore[attr-defined]
                client.close()  # type: ignore[attr-defined]
            except Exception:
                _CLUSTER_OK = False
        if _CLUSTER_OK:
            return REDIS_CLUSTER_URL
        message = f"no Redis Cluster answers at {REDIS_CLUSTER_URL}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (LITEFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture
def redis_cluster_cleanup(redis_cluster_url: str, key_prefix: str) -> Iterator[str]:
    """Deletes this test's keys (and only those) from every master of the cluster afterwards; yields the
    prefix."""
    yield key_prefix
    client: Any = _cluster_client()
    try:
        for node in client.get_primaries():
            server = client.get_redis_connection(node)
            for key in list(server.scan_iter(match=key_prefix + "*", count=1000)):
                server.delete(key)  # one key per command: keys of other slots may not go together
    finally:
        client.close()


@pytest.fixture
def key_prefix() -> str:
    """A key prefix (or database name suffix) no other test uses."""
    return f"lftest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_cleanup(redis_url: str, key_prefix: str) -> Iterator[str]:
    """Deletes this test's keys (and only those) afterwards; yields the prefix."""
    yield key_prefix
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=key_prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def mongo_client() -> Iterator[object]:
    """A real MongoClient when LITEFLOW_TEST_MONGO_URL is set, else a mongomock client."""
    if MONGO_URL:
        import pymongo

        client: object = pymongo.MongoClient(MONGO_URL, tz_aware=True, serverSelectionTimeoutMS=3000)
    else:
        import mongomock

        client = mongomock.MongoClient(tz_aware=True)
    yield client


@pytest.fixture
def mongo_database(mongo_client: object, key_prefix: str) -> Iterator[str]:
    """A database name no other test uses; dropped afterwards."""
    name = "liteflow_test_" + key_prefix.split(":")[1]
    yield name
    mongo_client.drop_database(name)  # type: ignore[attr-defined]
