"""Redis providers: persistence, work queues and distributed locks on one Redis server or a Redis Cluster.

Each takes a Redis URL (it then opens and closes its own connection pool), a Redis Cluster URL
(``redis+cluster://host:7000,host:7001``), or a ``redis.Redis`` / ``redis.cluster.RedisCluster`` client
(used as it is, never closed here), and a key ``prefix`` that every key it touches starts with::

    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    url = "redis://localhost:6379/0"
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url),
        queue=RedisQueueProvider(url),
        lock=RedisLockProvider(url, lease=30.0),
    )
"""

from liteflow.providers.drivers import require

require("redis", "redis")

from .lifecycle import RedisLifecycleHub  # noqa: E402
from .lock import RedisLockProvider  # noqa: E402
from .persistence import RedisPersistenceProvider  # noqa: E402
from .queue import RedisQueueProvider  # noqa: E402

__all__ = ["RedisLifecycleHub", "RedisLockProvider", "RedisPersistenceProvider", "RedisQueueProvider"]
