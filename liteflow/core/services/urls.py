"""Providers named by URL: what ``configure_workflow_host(persistence="redis://...")`` builds.

=============================  ===========================================================================
``memory://``                  the in-process providers
``redis://host:6379/0``        Redis (``rediss://`` for TLS; user and password in the URL); ``prefix``
                               applies to every Redis provider
``redis+cluster://h:p,h:p``    Redis Cluster: seed nodes (the rest are discovered), ``rediss+cluster://``
                               for TLS; user, password and ``?options`` as for ``redis://``
``mongodb://...``              MongoDB persistence (also ``mongodb+srv://``); the database is the URL's
                               path, ``liteflow`` when it has none. MongoDB has no queue or lock
``sqlite:///path/to/file.db``  SQLite (``liteflow.providers.sqlite``); as in SQLAlchemy, three slashes
                               then a relative path, four for an absolute one
=============================  ===========================================================================

When only ``persistence`` is a URL, the queue and lock come from the same store (Redis, SQLite) or, for
MongoDB, from memory: one node only, and a warning says so. Provider modules are imported only when a
URL needs them, so a driver that is not installed costs nothing until it is asked for.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

#: What a URL may name, per scheme: "persistence", "queue", "lock".
_SCHEMES: dict[str, tuple[str, ...]] = {
    "memory": ("persistence", "queue", "lock"),
    "redis": ("persistence", "queue", "lock"),
    "rediss": ("persistence", "queue", "lock"),
    "redis+cluster": ("persistence", "queue", "lock"),
    "rediss+cluster": ("persistence", "queue", "lock"),
    "mongodb": ("persistence",),
    "mongodb+srv": ("persistence",),
    "sqlite": ("persistence", "queue", "lock"),
}

DEFAULT_MONGO_DATABASE = "liteflow"


#: A ``password=`` (or ``pass=``, ``pwd=``) query option's value.
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|pass|pwd)=)[^&#]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with its passwords replaced by ``***``: the one in the user info and any ``password=``
    (``pass=``, ``pwd=``) query option. User names, hosts, paths and other options are kept: fit for logs
    and error messages. It never raises, even on a URL too malformed to parse."""
    scheme, sep, rest = url.partition("://")
    if sep:
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        credentials, at, hosts = rest[:end].rpartition("@")  # the last @, as urlsplit reads it
        user, colon, _ = credentials.partition(":")
        if at and colon:
            url = f"{scheme}://{user}:***@{hosts}{rest[end:]}"
    return _QUERY_PASSWORD.sub(r"\g<head>***", url)


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()


def _known(kind: str) -> str:
    return ", ".join(f"{scheme}://" for scheme, kinds in _SCHEMES.items() if kind in kinds)


def _check(url: str, kind: str) -> str:
    scheme = scheme_of(url)
    if scheme not in _SCHEMES:
        raise ValueError(f"unknown {kind} URL scheme {scheme!r} in {redact(url)!r}: known schemes are {_known(kind)}")
    if kind not in _SCHEMES[scheme]:
        raise ValueError(f"{scheme}:// provides no {kind}: for a {kind} use one of {_known(kind)}")
    return scheme


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` URL."""
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise ValueError(
            f"a SQLite URL names a file: sqlite:///relative/path.db or sqlite:////absolute/path.db, got {url!r}"
        )
    return unquote(rest[1:])


def mongo_database(url: str) -> str:
    """The database a MongoDB URL names in its path, ``liteflow`` when none."""
    return unquote(urlsplit(url).path.lstrip("/")) or DEFAULT_MONGO_DATABASE


#: The Redis schemes: one server, or a cluster named by its seed nodes.
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")


def redis_cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]]]:
    """A ``redis+cluster://[user:password@]host:port[,host:port...][/?options]`` URL as a ``redis://`` URL
    of its first seed (with the user, password, TLS and options, for redis-py's ``from_url`` parsing) and
    every seed node's (host, port). A seed without a port is on 6379; a database other than 0 is refused
    (a cluster has only database 0)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("redis+cluster", "rediss+cluster"):
        raise ValueError(f"not a Redis Cluster URL: {redact(url)!r}")
    credentials, _, hosts = parts.netloc.rpartition("@")
    seeds: list[tuple[str, int]] = []
    for seed in hosts.split(","):
        seed = seed.strip()
        if not seed:
            continue
        host, colon, port = seed.rpartition(":") if not seed.endswith("]") else (seed, "", "")
        if not colon:
            host, port = seed, "6379"
        try:
            seeds.append((host.strip("[]"), int(port)))
        except ValueError:
            raise ValueError(f"bad seed node {seed!r} in {redact(url)!r}: host:port expected") from None
    if not seeds:
        raise ValueError(f"a Redis Cluster URL names at least one seed node host:port, got {redact(url)!r}")
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError(f"a Redis Cluster has only database 0, got {redact(url)!r}")
    first, first_port = seeds[0]
    netloc = f"{credentials}@" if credentials else ""
    netloc += f"[{first}]:{first_port}" if ":" in first else f"{first}:{first_port}"
    single = urlunsplit(("rediss" if scheme == "rediss+cluster" else "redis", netloc, "", parts.query, ""))
    return single, seeds


def _sqlite(name: str) -> Any:
    try:
        import liteflow.providers.sqlite as module
    except ImportError as exc:
        raise ImportError(f"sqlite:// URLs need liteflow.providers.sqlite, which is not importable: {exc}") from exc
    return getattr(module, name)


def _redis(name: str) -> Any:
    import liteflow.providers.redis as module

    return getattr(module, name)


_REDIS_PROVIDERS = ("RedisPersistenceProvider", "RedisQueueProvider", "RedisLockProvider")


def _memory(name: str) -> Any:
    import liteflow.providers.memory as module

    return getattr(module, name)


def _redis_prefix(prefix: str | None) -> dict[str, Any]:
    return {} if prefix is None else {"prefix": prefix}


def persistence_from_url(url: str, prefix: str | None = None) -> Any:
    scheme = _check(url, "persistence")
    if scheme == "memory":
        return _memory("MemoryPersistenceProvider")()
    if scheme in REDIS_SCHEMES:
        return _redis("RedisPersistenceProvider")(url, **_redis_prefix(prefix))
    if scheme == "sqlite":
        return _sqlite("SqlitePersistenceProvider")(sqlite_path(url))
    from liteflow.providers.mongo import MongoPersistenceProvider

    return MongoPersistenceProvider(url, database=mongo_database(url))


def queue_from_url(url: str, prefix: str | None = None) -> Any:
    scheme = _check(url, "queue")
    if scheme == "memory":
        return _memory("MemoryQueueProvider")()
    if scheme == "sqlite":
        return _sqlite("SqliteQueueProvider")(sqlite_path(url))
    return _redis("RedisQueueProvider")(url, **_redis_prefix(prefix))


def lock_from_url(url: str, prefix: str | None = None) -> Any:
    scheme = _check(url, "lock")
    if scheme == "memory":
        return _memory("MemoryLockProvider")()
    if scheme == "sqlite":
        return _sqlite("SqliteLockProvider")(sqlite_path(url))
    return _redis("RedisLockProvider")(url, **_redis_prefix(prefix))


def is_redis_client(value: Any) -> bool:
    """True for a ``redis.Redis`` or ``redis.cluster.RedisCluster`` client (without importing redis: a
    process that made one has imported it)."""
    module = sys.modules.get("redis")
    cluster = sys.modules.get("redis.cluster")
    kinds = tuple(
        kind for kind in (getattr(module, "Redis", None), getattr(cluster, "RedisCluster", None)) if kind is not None
    )
    return bool(kinds) and isinstance(value, kinds)


_KINDS = ("persistence", "queue", "lock")


def _provider(value: Any, kind: str, prefix: str | None) -> Any:
    """The provider for one of ``configure_workflow_host``'s arguments: made from a URL or a Redis client,
    else the value itself."""
    if isinstance(value, str):
        make: Callable[[str, str | None], Any] = {
            "persistence": persistence_from_url,
            "queue": queue_from_url,
            "lock": lock_from_url,
        }[kind]
        return make(value, prefix)
    if is_redis_client(value):
        return _redis(_REDIS_PROVIDERS[_KINDS.index(kind)])(value, **_redis_prefix(prefix))
    return value


def resolve_providers(persistence: Any, queue: Any, lock: Any, prefix: str | None = None) -> tuple[Any, Any, Any]:
    """The providers for what ``configure_workflow_host`` was given: URLs become providers; a queue or lock
    not given follows a persistence URL (same Redis or SQLite store; memory, with a warning, for MongoDB).
    What is still None is left for the caller's defaults. A ``redis.Redis`` or ``RedisCluster`` client is
    taken like a Redis URL (the providers use it, and leave it open). Every URL is checked before
    anything is built."""
    for url, kind in ((persistence, "persistence"), (queue, "queue"), (lock, "lock")):
        if isinstance(url, str):
            _check(url, kind)
    if isinstance(persistence, str):
        scheme = scheme_of(persistence)
        if scheme in ("mongodb", "mongodb+srv") and (queue is None or lock is None):
            missing = " and ".join(kind for kind, value in (("queue", queue), ("lock", lock)) if value is None)
            warnings.warn(
                f"persistence {redact(persistence)!r} is MongoDB, which has no {missing}: using the in-memory "
                f"{missing}, so only one node may run; pass queue= and lock= (e.g. redis://) for several",
                UserWarning,
                stacklevel=3,
            )
        elif scheme != "memory":
            queue = persistence if queue is None else queue
            lock = persistence if lock is None else lock
    elif is_redis_client(persistence):
        queue = persistence if queue is None else queue
        lock = persistence if lock is None else lock
    built: list[Any] = []
    try:
        for value, kind in zip((persistence, queue, lock), _KINDS, strict=True):
            built.append(_provider(value, kind, prefix))
    except BaseException:
        for made, given in zip(built, (persistence, queue, lock), strict=False):
            if (isinstance(given, str) or is_redis_client(given)) and made is not None:
                made.close()
        raise
    return built[0], built[1], built[2]
