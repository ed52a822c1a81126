"""Fixtures the scenario tests share (their helpers are in support.py).

Every test that takes the ``host`` fixture runs four times: on the memory providers, on the Redis
providers, on MongoDB persistence (mongomock unless LITEFLOW_TEST_MONGO_URL is set) and on the SQLite
providers (a file in the test's tmp_path); the modules in CLUSTER_MODULES run a fifth time on the Redis
providers over a Redis Cluster (LITEFLOW_TEST_REDIS_CLUSTER_URL). On the stored ones, a persistence
check runs after every store: what the database now holds must read back as exactly the instance the
host has (they write only the pointers that changed, so one they failed to write is caught where it
happens).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from support import LOG, make_host

from liteflow.core import WorkflowHost
from liteflow.core.models import WorkflowInstance
from liteflow.core.serialization import header_json, pointer_json


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "host_options(**options): options for the scenario `host` fixture: started=True starts it, "
        "the rest go to configure_workflow_host (e.g. retry_interval)",
    )
    config.addinivalue_line(
        "markers", "memory_only(reason): the test's `host` runs on the memory providers only, for this reason"
    )


#: The fraction of a second of a time in JSON (".348567Z"; none when it is zero): MongoDB keeps
#: milliseconds and cuts off the rest.
_FRACTION = re.compile(rb'(\.\d{3})\d{3}Z"')
_NO_MILLIS = re.compile(rb'\.000Z"')


class StoreChecker:
    """Wraps a persistence provider's ``persist_workflow``: after each store, the instance read back must
    serialise exactly as the one stored (compared only if nobody stored it again meanwhile); with
    ``millis``, times are compared to the millisecond."""

    def __init__(self, persistence: Any, millis: bool = False) -> None:
        self.persistence = persistence
        self.millis = millis
        self.mismatches: list[str] = []
        self._persist = persistence.persist_workflow
        persistence.persist_workflow = self.persist_workflow

    def _json(self, raw: bytes) -> Any:
        if self.millis:
            raw = _NO_MILLIS.sub(b'Z"', _FRACTION.sub(rb'\g<1>Z"', raw))
        return json.loads(raw)

    def _document(self, instance: WorkflowInstance) -> Any:
        return self._json(header_json(instance)), [self._json(pointer_json(p)) for p in instance.execution_pointers]

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Any = (),
        ended_subscriptions: Any = (),
        control_applied: str | None = None,
    ) -> None:
        self._persist(instance, subscriptions, ended_subscriptions, control_applied)
        stored = self.persistence.get_workflow_instance(instance.id)
        if stored.revision != instance.revision:
            return
        if self._document(stored) != self._document(instance):
            self.mismatches.append(f"{instance.id} revision {instance.revision}")


#: The scenario modules that also run on a Redis Cluster (``redis-cluster``): a representative subset
#: (flows, events, errors, schedules, concurrency limits, control requests), not the whole suite twice.
CLUSTER_MODULES = frozenset(
    {
        "test_core_basic",
        "test_core_events",
        "test_core_flow",
        "test_core_errors",
        "test_schedules",
        "test_limits",
        "test_control_races",
        "test_parity_saga",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``redis-cluster`` runs of the modules outside :data:`CLUSTER_MODULES`."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_cluster = callspec is not None and callspec.params.get("host") == "redis-cluster"
        module = item.module.__name__.rpartition(".")[2] if item.module is not None else ""
        (dropped if on_cluster and module not in CLUSTER_MODULES else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _redis_host(
    request: pytest.FixtureRequest, options: dict[str, Any], cluster: bool = False
) -> tuple[WorkflowHost, StoreChecker]:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    redis_url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
    # its keys are deleted after the test
    prefix = request.getfixturevalue("redis_cluster_cleanup" if cluster else "redis_cleanup")
    persistence = RedisPersistenceProvider(redis_url, prefix=prefix)
    queue, lock = RedisQueueProvider(redis_url, prefix=prefix), RedisLockProvider(redis_url, prefix=prefix)
    return make_host(persistence, queue, lock, **options), StoreChecker(persistence)


def _mongo_host(request: pytest.FixtureRequest, options: dict[str, Any]) -> tuple[WorkflowHost, StoreChecker]:
    """MongoDB persistence (mongomock, or the server at LITEFLOW_TEST_MONGO_URL) with the memory queue
    and lock."""
    from liteflow.providers.mongo import MongoPersistenceProvider

    client = request.getfixturevalue("mongo_client")
    persistence = MongoPersistenceProvider(client, database=request.getfixturevalue("mongo_database"))
    return make_host(persistence, **options), StoreChecker(persistence, millis=True)


def _sqlite_host(request: pytest.FixtureRequest, options: dict[str, Any]) -> tuple[WorkflowHost, StoreChecker]:
    """The three SQLite providers on one file in the test's tmp_path."""
    from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

    path = request.getfixturevalue("tmp_path") / "liteflow.db"
    persistence = SqlitePersistenceProvider(path)
    return make_host(persistence, SqliteQueueProvider(path), SqliteLockProvider(path), **options), StoreChecker(
        persistence
    )


def _redis_cluster_host(request: pytest.FixtureRequest, options: dict[str, Any]) -> tuple[WorkflowHost, StoreChecker]:
    return _redis_host(request, options, cluster=True)


_STORED = {"redis": _redis_host, "redis-cluster": _redis_cluster_host, "mongo": _mongo_host, "sqlite": _sqlite_host}


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis_cluster),
        pytest.param("mongo", marks=pytest.mark.mongo),
        "sqlite",
    ]
)
def host(request: pytest.FixtureRequest) -> Iterator[WorkflowHost]:
    """A host (poll 100 ms, retry after 50 ms) on the memory providers, on the Redis ones (one server, and
    for the modules in :data:`CLUSTER_MODULES` a Redis Cluster), on MongoDB persistence or on the SQLite
    providers, stopped afterwards; a module's
    ``pytest.mark.host_options(...)`` changes its options, and ``started=True`` starts it."""
    marker = request.node.get_closest_marker("host_options")
    options = dict(marker.kwargs) if marker else {}
    started = options.pop("started", False)
    only_memory = request.node.get_closest_marker("memory_only")
    if request.param != "memory" and only_memory is not None:
        pytest.skip(f"memory providers only: {only_memory.args[0]}")
    checker: StoreChecker | None = None
    if request.param == "memory":
        h = make_host(**options)
    else:
        h, checker = _STORED[request.param](request, options)
    if started:
        h.start()
    try:
        yield h
    finally:
        h.stop()
        h.close()
        if request.param == "sqlite":  # its file goes with tmp_path: let go of its connections and threads
            for provider in (h.persistence, h.queue, h.lock):
                provider.close()
    if checker is not None:
        assert not checker.mismatches, f"{request.param} holds other than what was stored: {checker.mismatches}"


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    """Every test starts with an empty shared step log."""
    LOG.clear()
