"""The providers the contract suite runs against: one small factory per implementation.

Every test in this package takes ``persistence``, ``queue`` or ``lock_owners`` and so runs once per
registered implementation. To put a new provider under contract, add one factory here::

    @persistence_provider("mine")
    def _mine(request: pytest.FixtureRequest) -> Any:
        return MyPersistenceProvider(str(request.getfixturevalue("tmp_path") / "db"))

A factory gets the pytest request (use ``request.getfixturevalue`` for service fixtures such as
``redis_url`` / ``redis_cleanup``) and returns a provider; the fixture closes it afterwards. Lock
factories return a function ``make(lease)`` whose providers are distinct owners of one lock table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

Factory = Callable[[pytest.FixtureRequest], Any]


@dataclass(frozen=True)
class Registered:
    make: Factory
    marks: tuple[pytest.MarkDecorator, ...]


PERSISTENCE: dict[str, Registered] = {}
QUEUES: dict[str, Registered] = {}
LOCKS: dict[str, Registered] = {}


def _register(table: dict[str, Registered], name: str, marks: tuple[pytest.MarkDecorator, ...]) -> Any:
    def decorator(make: Factory) -> Factory:
        table[name] = Registered(make, marks)
        return make

    return decorator


def persistence_provider(name: str, *marks: pytest.MarkDecorator) -> Any:
    return _register(PERSISTENCE, name, marks)


def queue_provider(name: str, *marks: pytest.MarkDecorator) -> Any:
    return _register(QUEUES, name, marks)


def lock_provider(name: str, *marks: pytest.MarkDecorator) -> Any:
    return _register(LOCKS, name, marks)


def _params(table: dict[str, Registered]) -> list[Any]:
    return [pytest.param(name, marks=entry.marks, id=name) for name, entry in table.items()]


def _redis(name: str) -> Any:
    """A class from ``liteflow.providers.redis``, imported lazily: a missing one fails the test (no skip)."""
    try:
        import liteflow.providers.redis as module

        return getattr(module, name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"liteflow.providers.redis.{name} is not importable ({exc!r}): the Redis providers are missing")


# -- persistence ---------------------------------------------------------------------------------------
@persistence_provider("memory")
def _memory_persistence(request: pytest.FixtureRequest) -> Any:
    from liteflow.providers.memory import MemoryPersistenceProvider

    return MemoryPersistenceProvider()


@persistence_provider("mongo")
def _mongo_persistence(request: pytest.FixtureRequest) -> Any:
    from liteflow.providers.mongo import MongoPersistenceProvider

    client = request.getfixturevalue("mongo_client")
    return MongoPersistenceProvider(client, database=request.getfixturevalue("mongo_database"))


@persistence_provider("redis", pytest.mark.redis)
def _redis_persistence(request: pytest.FixtureRequest) -> Any:
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_cleanup")
    return _redis("RedisPersistenceProvider")(url, prefix=prefix)


@persistence_provider("redis-cluster", pytest.mark.redis_cluster)
def _redis_cluster_persistence(request: pytest.FixtureRequest) -> Any:
    url, prefix = request.getfixturevalue("redis_cluster_url"), request.getfixturevalue("redis_cluster_cleanup")
    return _redis("RedisPersistenceProvider")(url, prefix=prefix)


@persistence_provider("sqlite")
def _sqlite_persistence(request: pytest.FixtureRequest) -> Any:
    from liteflow.providers.sqlite import SqlitePersistenceProvider

    return SqlitePersistenceProvider(request.getfixturevalue("tmp_path") / "liteflow.db")


# -- queues --------------------------------------------------------------------------------------------
@queue_provider("memory")
def _memory_queue(request: pytest.FixtureRequest) -> Any:
    from liteflow.providers.memory import MemoryQueueProvider

    return MemoryQueueProvider()


@queue_provider("redis", pytest.mark.redis)
def _redis_queue(request: pytest.FixtureRequest) -> Any:
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_cleanup")
    return _redis("RedisQueueProvider")(url, prefix=prefix)


@queue_provider("redis-cluster", pytest.mark.redis_cluster)
def _redis_cluster_queue(request: pytest.FixtureRequest) -> Any:
    url, prefix = request.getfixturevalue("redis_cluster_url"), request.getfixturevalue("redis_cluster_cleanup")
    return _redis("RedisQueueProvider")(url, prefix=prefix)


@queue_provider("sqlite")
def _sqlite_queue(request: pytest.FixtureRequest) -> Any:
    from liteflow.providers.sqlite import SqliteQueueProvider

    return SqliteQueueProvider(request.getfixturevalue("tmp_path") / "liteflow.db")


# -- locks ---------------------------------------------------------------------------------------------
@lock_provider("memory")
def _memory_locks(request: pytest.FixtureRequest) -> Callable[[float], Any]:
    from liteflow.providers.memory import MemoryLockProvider

    table: dict[str, tuple[str, float]] = {}
    return lambda lease: MemoryLockProvider(lease=lease, registry=table)


@lock_provider("redis", pytest.mark.redis)
def _redis_locks(request: pytest.FixtureRequest) -> Callable[[float], Any]:
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_cleanup")
    cls = _redis("RedisLockProvider")
    return lambda lease: cls(url, prefix=prefix, lease=lease)


@lock_provider("redis-cluster", pytest.mark.redis_cluster)
def _redis_cluster_locks(request: pytest.FixtureRequest) -> Callable[[float], Any]:
    url, prefix = request.getfixturevalue("redis_cluster_url"), request.getfixturevalue("redis_cluster_cleanup")
    cls = _redis("RedisLockProvider")
    return lambda lease: cls(url, prefix=prefix, lease=lease)


@lock_provider("sqlite")
def _sqlite_locks(request: pytest.FixtureRequest) -> Callable[[float], Any]:
    from liteflow.providers.sqlite import SqliteLockProvider

    path = request.getfixturevalue("tmp_path") / "liteflow.db"
    return lambda lease: SqliteLockProvider(path, lease=lease)


# -- the fixtures the contract tests take --------------------------------------------------------------
@pytest.fixture(params=_params(PERSISTENCE))
def persistence(request: pytest.FixtureRequest) -> Iterator[Any]:
    provider = PERSISTENCE[request.param].make(request)
    yield provider
    provider.close()


@pytest.fixture(params=_params(QUEUES))
def queue(request: pytest.FixtureRequest) -> Iterator[Any]:
    provider = QUEUES[request.param].make(request)
    yield provider
    provider.close()


class LockOwners:
    """Makes lock providers that compete for the same locks, and closes them afterwards."""

    def __init__(self, make: Callable[[float], Any]) -> None:
        self._make = make
        self._open: list[Any] = []

    def new(self, lease: float = 5.0) -> Any:
        owner = self._make(lease)
        self._open.append(owner)
        return owner

    def stop(self, owner: Any) -> None:
        """The owner stops (closes without releasing its locks): its leases are no longer renewed."""
        self._open.remove(owner)
        owner.close()

    def close_all(self) -> None:
        while self._open:
            self._open.pop().close()


@pytest.fixture(params=_params(LOCKS))
def lock_owners(request: pytest.FixtureRequest) -> Iterator[LockOwners]:
    owners = LockOwners(LOCKS[request.param].make(request))
    yield owners
    owners.close_all()
