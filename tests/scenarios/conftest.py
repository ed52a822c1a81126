"""Fixtures the scenario tests share (their helpers are in support.py).

Every test that takes the ``host`` fixture runs twice: on the memory providers, and on the Redis
providers with a persistence that checks, after every store, that what Redis now holds reads back as
exactly the instance the host has (so a pointer the Redis provider failed to write is caught where it
happens).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support import LOG, make_host

from liteflow.core import WorkflowHost
from liteflow.core.models import WorkflowInstance
from liteflow.core.serialization import instance_json


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "host_options(**options): options for the scenario `host` fixture: started=True starts it, "
        "the rest go to configure_workflow_host (e.g. retry_interval)",
    )
    config.addinivalue_line(
        "markers", "memory_only(reason): the test's `host` runs on the memory providers only, for this reason"
    )


class StoreChecker:
    """Wraps a Redis persistence provider's ``persist_workflow``: after each store, the instance read back
    must serialise exactly as the one stored (compared only if nobody stored it again meanwhile)."""

    def __init__(self, persistence: Any) -> None:
        self.persistence = persistence
        self.mismatches: list[str] = []
        self.checked = 0
        self._persist = persistence.persist_workflow
        persistence.persist_workflow = self.persist_workflow

    def persist_workflow(self, instance: WorkflowInstance, subscriptions: Any = ()) -> None:
        self._persist(instance, subscriptions)
        stored = self.persistence.get_workflow_instance(instance.id)
        if stored.revision != instance.revision:
            return
        self.checked += 1
        if json.loads(instance_json(stored)) != json.loads(instance_json(instance)):
            self.mismatches.append(f"{instance.id} revision {instance.revision}")


def _redis_host(redis_url: str, prefix: str, options: dict[str, Any]) -> tuple[WorkflowHost, StoreChecker]:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    persistence = RedisPersistenceProvider(redis_url, prefix=prefix)
    checker = StoreChecker(persistence)
    host = make_host(
        persistence,
        RedisQueueProvider(redis_url, prefix=prefix),
        RedisLockProvider(redis_url, prefix=prefix),
        **options,
    )
    return host, checker


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def host(request: pytest.FixtureRequest) -> Iterator[WorkflowHost]:
    """A host (poll 100 ms, retry after 50 ms) on the memory or the Redis providers, stopped afterwards;
    a module's ``pytest.mark.host_options(...)`` changes its options, and ``started=True`` starts it."""
    marker = request.node.get_closest_marker("host_options")
    options = dict(marker.kwargs) if marker else {}
    started = options.pop("started", False)
    checker: StoreChecker | None = None
    prefix = f"lftest:{uuid.uuid4().hex[:12]}:"
    only_memory = request.node.get_closest_marker("memory_only")
    if request.param == "redis" and only_memory is not None:
        pytest.skip(f"memory providers only: {only_memory.args[0]}")
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        h, checker = _redis_host(redis_url, prefix, options)
    else:
        h = make_host(**options)
    if started:
        h.start()
    try:
        yield h
    finally:
        h.stop()
        if checker is not None:
            h.close()
            _delete_keys(request.getfixturevalue("redis_url"), prefix)
    if checker is not None:
        assert not checker.mismatches, f"Redis holds other than what was stored: {checker.mismatches}"


def _delete_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    """Every test starts with an empty shared step log."""
    LOG.clear()
