"""Redis plumbing shared by the three Redis providers: one place for URL-or-client handling (one server
or a Redis Cluster), key prefixing, Lua script registration, blocking-call clients and driver-error
wrapping.

Clients this module makes use ``decode_responses=False`` (replies are bytes); a client passed in may
decode or not, so replies are read through :func:`text`, which accepts both.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.client import NEVER_DECODE
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, MovedError, NoScriptError, SlotNotCoveredError, TryAgainError
from redis.retry import Retry

from liteflow.core.errors import ProviderError
from liteflow.core.log import logger
from liteflow.core.services.urls import redact, redis_cluster_seeds, scheme_of

if TYPE_CHECKING:
    from .meta import StoreCheck

log = logger("redis")

#: A Redis URL (``redis://host:port/db``, ``rediss://...``, ``unix://...``), a Redis Cluster URL
#: (``redis+cluster://host:port,host:port``, ``rediss+cluster://...``), a ready ``redis.Redis`` or a ready
#: ``redis.cluster.RedisCluster``.
RedisSource = Union[str, "redis.Redis", "RedisCluster"]

#: A client of either kind.
RedisClient = Union["redis.Redis", "RedisCluster"]

_CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")

#: URL query options LiteFlow reads itself (taken out before the URL reaches redis-py).
_OWN_OPTIONS = ("shards",)

#: Options for the clients made from a URL (query-string options in the URL take precedence). Every read
#: has a timeout (redis-py 5 and 6 have none by default): a half-open connection (a server or a link gone
#: without a word) fails a command instead of hanging a worker or the lease renewal thread for ever.
_CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": False,
    "socket_connect_timeout": 5.0,
    "socket_timeout": 5.0,
    "socket_keepalive": True,
    "health_check_interval": 30,
}

#: A blocking command is given this much less than the socket timeout, so the server answers first.
_BLOCKING_MARGIN = 0.5

#: The longest a blocking command made from a URL waits (a longer wait answers None sooner); its client's
#: socket timeout is this plus the margin, so a half-open connection holds a blocked worker no longer.
LONGEST_BLOCK = 10.0


def text(value: Any) -> str:
    """A reply as ``str`` whether or not the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def provider_errors(action: str) -> Iterator[None]:
    """Re-raise any redis-py error inside the block as :class:`ProviderError` (chained with ``from``)."""
    try:
        yield
    except redis.RedisError as exc:
        log.warning("redis.failed", action=action, error=str(exc), error_type=type(exc).__name__)
        raise ProviderError(f"redis {action} failed: {exc}") from exc


def _driver_default_socket_timeout() -> float | None:
    try:
        from redis._defaults import DEFAULT_SOCKET_TIMEOUT  # redis-py >= 7: 5 s unless told otherwise
    except ImportError:  # older redis-py: no timeout unless told otherwise
        return None
    return float(DEFAULT_SOCKET_TIMEOUT)


def _connection_kwargs(client: RedisClient) -> dict[str, Any]:
    if isinstance(client, RedisCluster):
        return dict(client.nodes_manager.connection_kwargs)
    return dict(getattr(client.connection_pool, "connection_kwargs", {}))


def socket_timeout(client: RedisClient) -> float | None:
    """The socket timeout ``client``'s connections use (None: they wait for ever)."""
    kwargs = _connection_kwargs(client)
    if "socket_timeout" in kwargs:
        value = kwargs["socket_timeout"]
        return None if value is None else float(value)
    return _driver_default_socket_timeout()


def pack_command(args: Sequence[Any]) -> bytes:
    """A command in the Redis protocol (RESP): what redis-py's packer makes of ``str`` (UTF-8), ``bytes``,
    ``int`` and ``float`` arguments, in a third of its time (it also handles types never sent here)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            value = arg
        elif isinstance(arg, str):
            value = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            value = b"%d" % arg
        elif isinstance(arg, float):
            value = repr(arg).encode()
        else:
            raise redis.DataError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(out)


#: Sends packed commands on a connection and reads what they answer.
_Exchange = Callable[[redis.connection.AbstractConnection, list[bytes]], Any]


def _exchange_one(connection: redis.connection.AbstractConnection, packed: list[bytes]) -> Any:
    """One command's reply (an error reply raised)."""
    connection.send_packed_command(packed)
    return connection.read_response()


def _exchange_all(connection: redis.connection.AbstractConnection, packed: list[bytes]) -> list[Any]:
    """Every command's reply, in order (an error reply in its place, as the exception)."""
    connection.send_packed_command(packed)
    replies: list[Any] = []
    for _ in packed:
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as exc:  # the whole reply was read: the next one follows
            replies.append(exc)
    return replies


class _Connections:
    """Connections for the hot path's commands, taken and given back without the pool's bookkeeping.

    redis-py's client spends about as much CPU around a command (pool checkout, retry wrapper, command
    instrumentation, reply callbacks) as on sending it and parsing the answer; a host sends one or two
    commands per step. These connections are made the way the client's own pool makes them (same class
    and options: address, TLS, timeouts, credentials), kept on a stack (one per thread at a time), and
    answer with the raw reply. A command that fails because the connection broke is sent once more on a
    fresh connection; the second failure is raised.
    """

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._idle: list[redis.connection.AbstractConnection] = []
        self.closed = False

    def execute(self, *args: Any) -> Any:
        """One command; its raw reply (an error reply raised)."""
        return self._send([pack_command(args)], _exchange_one)

    def execute_pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Several commands in one write, their replies in order (an error reply in its place, as the
        exception). Sent once more on a fresh connection if the connection broke: for commands that may
        be sent twice (reads, idempotent writes)."""
        return self._send([pack_command(args) for args in commands], _exchange_all)

    def _send(self, packed: list[bytes], exchange: _Exchange) -> Any:
        """``exchange(connection, packed)`` on an idle connection (a new one if none is), once more after
        reconnecting if the connection broke; the connection is given back afterwards."""
        try:
            connection = self._idle.pop()  # list.pop and append are atomic: no lock needed
        except IndexError:
            connection = self._pool.connection_class(**self._pool.connection_kwargs)
        try:
            try:
                return exchange(connection, packed)
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()  # reconnects on the next send
                return exchange(connection, packed)
        except BaseException:
            connection.disconnect()  # nothing half-read may be left for the next command
            raise
        finally:
            if self.closed:
                connection.disconnect()
            else:
                self._idle.append(connection)

    def close(self) -> None:
        self.closed = True
        while self._idle:
            self._idle.pop().disconnect()


def _key_of(args: Sequence[Any]) -> Any:
    """The key a command is routed by: EVALSHA's first key, else the first argument."""
    return args[3] if args[0] == "EVALSHA" else args[1]


#: How long a write on a cluster waits for a replica's acknowledgement (WAIT), in seconds.
REPLICA_WAIT = 0.1

#: How long a master whose replica did not acknowledge in time is written without waiting, in seconds.
UNREPLICATED_FOR = 5.0

#: What sends a command of the cluster fast path to redis-py's cluster client instead: a slot that moved
#: (MOVED; ASK while it is migrating), a master away or being replaced, a slot map not yet known.
_REROUTE = (
    MovedError,
    AskError,
    TryAgainError,
    ClusterDownError,
    SlotNotCoveredError,
    redis.ConnectionError,
    redis.TimeoutError,
)


class _ClusterRoutes:
    """The hot path's commands on a Redis Cluster, sent straight to the master of their key's slot.

    redis-py's cluster client costs 60-100 us of CPU per command (measured with ``HMGET`` on this
    machine: about 3x a plain connection) in routing, retry and callback layers. Here the slot is hashed
    (CRC16 of the key's hash tag), its master read from the client's slot map, and the command sent on
    a :class:`_Connections` of that master. Whenever that fails for a reason of the cluster's (see
    :data:`_REROUTE`) the command is sent through the cluster client instead, which follows MOVED/ASK,
    refreshes its slot map (so the next fast command goes to the new master) and retries. Commands sent
    here are safe to send again: scripts carry write tokens, the rest are reads or idempotent writes.
    """

    def __init__(self, client: RedisCluster) -> None:
        self._client = client
        self._masters: dict[str, _Connections] = {}
        #: masters found without a replica answering WAIT, and until when (monotonic) they are written
        #: without waiting
        self._unreplicated: dict[str, float] = {}
        self.closed = False

    def _master(self, key: Any) -> tuple[str, _Connections]:
        node = self._client.nodes_manager.get_node_from_slot(key_slot(key if isinstance(key, bytes) else key.encode()))
        connections = self._masters.get(node.name)
        if connections is None:
            server = node.redis_connection
            if server is None:
                raise SlotNotCoveredError(f"no connection to {node.name} yet")
            connections = self._masters.setdefault(node.name, _Connections(server.connection_pool))
        return node.name, connections

    def execute(self, key: Any, *args: Any) -> Any:
        try:
            return self._master(key)[1].execute(*args)
        except _REROUTE as exc:
            log.debug("redis.cluster_rerouted", error=str(exc), error_type=type(exc).__name__)
            return self._client.execute_command(*args, **{NEVER_DECODE: True})

    def execute_replicated(self, key: Any, *args: Any) -> Any:
        """A write acknowledged once a replica of its master has it too: the command and ``WAIT 1`` sent
        together on one connection (one round trip plus the replica's acknowledgement). A master whose
        replica does not acknowledge within :data:`REPLICA_WAIT` (none, or one too slow) is written
        without waiting for the next :data:`UNREPLICATED_FOR` seconds, then tried again."""
        try:
            name, connections = self._master(key)
            if time.monotonic() < self._unreplicated.get(name, 0.0):
                return connections.execute(*args)
            reply, acknowledged = connections.execute_pipeline([args, ("WAIT", 1, round(REPLICA_WAIT * 1000))])
            if isinstance(reply, _REROUTE):
                raise reply
            if isinstance(reply, Exception):
                raise reply
            if not isinstance(acknowledged, int) or acknowledged < 1:
                self._unreplicated[name] = time.monotonic() + UNREPLICATED_FOR
                log.info("redis.cluster_unreplicated", master=name, written_without_waiting_for=UNREPLICATED_FOR)
            return reply
        except _REROUTE as exc:
            log.debug("redis.cluster_rerouted", error=str(exc), error_type=type(exc).__name__)
            return self._client.execute_command(*args, **{NEVER_DECODE: True})

    def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Commands grouped by master, one write per master; the replies in order. A redirection or a
        master away anywhere sends the whole batch through redis-py's cluster pipeline instead (the
        commands sent here may be sent twice)."""
        try:
            groups: dict[str, tuple[_Connections, list[int]]] = {}
            for position, args in enumerate(commands):
                name, connections = self._master(_key_of(args))
                groups.setdefault(name, (connections, []))[1].append(position)
            replies: list[Any] = [None] * len(commands)
            for connections, positions in groups.values():
                answers = connections.execute_pipeline([commands[i] for i in positions])
                for i, answer in zip(positions, answers, strict=True):
                    if isinstance(answer, _REROUTE):
                        raise answer
                    replies[i] = answer
            return replies
        except _REROUTE as exc:
            log.debug("redis.cluster_rerouted", error=str(exc), error_type=type(exc).__name__)
            pipe = self._client.pipeline(transaction=False)
            for args in commands:
                pipe.execute_command(*args)
            return list(pipe.execute(raise_on_error=False))

    def close(self) -> None:
        self.closed = True
        for connections in list(self._masters.values()):
            connections.close()


def split_own_options(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without the query options LiteFlow reads itself (``shards``), and those options."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    own = {name: value for name, value in pairs if name in _OWN_OPTIONS}
    if not own:
        return url, {}
    rest = urlencode([(name, value) for name, value in pairs if name not in _OWN_OPTIONS])
    return urlunsplit(parts._replace(query=rest)), own


def client_from_url(url: str, options: dict[str, Any]) -> RedisClient:
    """A ``redis.Redis`` for a ``redis://`` (``rediss://``, ``unix://``) URL, a ``RedisCluster`` for a
    ``redis+cluster://`` (``rediss+cluster://``) one, made with ``options``."""
    if scheme_of(url) not in _CLUSTER_SCHEMES:
        return redis.Redis.from_url(url, **options)
    single, seeds = redis_cluster_seeds(url)
    return RedisCluster(url=single, startup_nodes=[ClusterNode(host, port) for host, port in seeds[1:]], **options)


class RedisConnection:
    """A Redis client for one provider object, plus the key prefix every key it names starts with.

    Guarantees:

    * every key made by :meth:`key` starts with ``prefix`` (tests and tenants never collide, and nothing
      here ever flushes a database);
    * a URL gets a client with its own connection pool (a 5 s socket timeout unless the URL says
      otherwise), and (on first use) a second pool for blocking commands, whose socket timeout is the
      longest block (10 s) plus a margin; a client passed in is used as it is, for both;
    * a cluster URL or a ``RedisCluster`` client is a cluster: every command and script names keys of
      one hash slot (the providers' key layout sees to it), and redis-py's cluster client routes it to
      the slot's master, following MOVED/ASK redirections and refreshing its slot map after a failover;
    * :meth:`execute` and :meth:`run_script` send a command on a connection of the hot path (see
      :class:`_Connections`) when the client has a plain connection pool, or of its slot's master on a
      cluster (see :class:`_ClusterRoutes`), else through the client; the fast paths answer with the
      raw reply (no redis-py reply callbacks);
    * :meth:`close` closes only what this object opened, never a client passed in.
    """

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:") -> None:
        self.prefix = prefix
        self._url: str | None = None
        #: LiteFlow's own URL options (``shards``), as given
        self.options: dict[str, str] = {}
        if isinstance(url_or_client, str):
            self._url, self.options = split_own_options(url_or_client)
            self.client: RedisClient = client_from_url(self._url, _CLIENT_OPTIONS)
        elif isinstance(url_or_client, (redis.Redis, RedisCluster)):
            self.client = url_or_client
        else:
            kind = type(url_or_client).__name__
            raise TypeError(f"expected a Redis URL, a redis.Redis or a redis.cluster.RedisCluster client, got {kind}")
        #: True on a Redis Cluster: every multi-key command must name keys of one slot
        self.cluster = isinstance(self.client, RedisCluster)
        self._blocking: RedisClient | None = None
        self._blocking_limit: float | None = None
        self._blocking_name: str | None = None
        self._mutex = threading.Lock()
        self._fast: _Connections | None = None
        self._routes: _ClusterRoutes | None = None
        utf8 = str(_connection_kwargs(self.client).get("encoding", "utf-8")).lower().replace("-", "") == "utf8"
        if isinstance(self.client, redis.Redis):
            plain = type(self.client.connection_pool) is redis.ConnectionPool
            self._fast = _Connections(self.client.connection_pool) if plain and utf8 else None
        elif utf8:
            self._routes = _ClusterRoutes(self.client)
        self.closed = False

    @property
    def owns_client(self) -> bool:
        """True when this object made the client (from a URL) and so closes it."""
        return self._url is not None

    def server(self) -> tuple[Any, ...] | None:
        """Which server, database and user this connects as, to tell whether two connections reach the same
        keys: (host, port, unix socket path, db, username); None on a cluster (keys of two slots never meet
        in one script there) or where the pool picks the server itself (Sentinel)."""
        if not isinstance(self.client, redis.Redis):
            return None
        if type(self.client.connection_pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
            return None  # a pool that finds its server itself (Sentinel): not known here
        kwargs = _connection_kwargs(self.client)
        if not kwargs.get("host") and not kwargs.get("path"):
            return None
        where = (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), int(kwargs.get("db") or 0))
        return (*where, kwargs.get("username"))  # another user may not reach the same keys

    def key(self, *parts: str) -> str:
        """The prefixed key ``prefix + parts...``."""
        return self.prefix + "".join(parts)

    def describe(self) -> str:
        """Where the server is, without a password: the URL given, or the address of a client passed in."""
        if self._url is not None:
            return redact(self._url)
        if isinstance(self.client, RedisCluster):
            nodes = ",".join(node.name for node in self.client.get_primaries())
            return f"redis+cluster://{nodes}"
        pool = self.client.connection_pool
        kwargs = getattr(pool, "connection_kwargs", {})
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        connection_class = getattr(pool, "connection_class", None)
        tls = isinstance(connection_class, type) and issubclass(connection_class, redis.SSLConnection)
        host, port, db = kwargs.get("host", "localhost"), kwargs.get("port", 6379), kwargs.get("db", 0)
        return f"{'rediss' if tls else 'redis'}://{host}:{port}/{db}"

    def _connection_of_its_own(self, timeout: float) -> redis.connection.AbstractConnection | None:
        """A new connection to the server (not from the pool), that connects and answers within ``timeout``
        seconds and tries once; the caller disconnects it. None when the client has no plain connection
        pool (a cluster, a sentinel pool): its own client knows how to reach the server."""
        pool = getattr(self.client, "connection_pool", None)
        if pool is None or type(pool) is not redis.ConnectionPool:
            return None
        options = {
            **pool.connection_kwargs,
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        return pool.connection_class(**options)

    def ping(self, timeout: float) -> None:
        """PING the server on a connection of its own, made (and given up) within ``timeout`` seconds
        and tried once; ProviderError naming the server if it does not answer."""
        try:
            connection = self._connection_of_its_own(timeout)
            if connection is None:
                self.client.ping()
            else:
                try:
                    connection.send_command("PING")
                    connection.read_response()
                finally:
                    connection.disconnect()
        except (redis.RedisError, OSError) as exc:
            raise ProviderError(f"Redis at {self.describe()} did not answer: {type(exc).__name__}: {exc}") from exc

    def probe(self, commands: Sequence[Sequence[Any]], timeout: float) -> list[Any]:
        """Commands naming keys, pipelined as :meth:`execute_many` does (the raw replies in order, an error
        reply in its place), but on one server on a connection of its own made and answered within
        ``timeout`` seconds and tried once, so a server away fails it soon; on a cluster (or a sentinel
        pool) through :meth:`execute_many`, within the client's own timeouts. A server out of reach raises
        redis-py's error as it is."""
        connection = self._connection_of_its_own(timeout)
        if connection is None:
            return self.execute_many(commands)
        try:
            return _exchange_all(connection, [pack_command(args) for args in commands])
        finally:
            connection.disconnect()

    def script(self, source: str) -> Script:
        """A Lua script for :meth:`run_script` (its SHA1 is computed once, here)."""
        return self.client.register_script(source)

    def execute(self, *args: Any) -> Any:
        """One command naming a key (``"HGET", key, field``; ``"EVALSHA", sha, n, key...``), answered with
        the raw reply."""
        if self._fast is not None:
            return self._fast.execute(*args)
        if self._routes is not None:
            return self._routes.execute(_key_of(args), *args)
        return self.client.execute_command(*args, **{NEVER_DECODE: True})

    def execute_replicated(self, *args: Any) -> Any:
        """One write command naming a key, as :meth:`execute`; on a cluster (through the fast path) answered
        once a replica of the master has it too (see :meth:`_ClusterRoutes.execute_replicated`). On one
        server it is :meth:`execute` (no WAIT)."""
        if self._routes is not None:
            return self._routes.execute_replicated(_key_of(args), *args)
        return self.execute(*args)

    def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Several commands naming keys, pipelined (one round trip; on a cluster, one per master
        involved); the raw replies in order, an error reply in its place as the exception. Only for
        commands that may be sent twice (a broken connection sends them again)."""
        if self._fast is not None:
            return self._fast.execute_pipeline(commands)
        if self._routes is not None:
            return self._routes.execute_many(commands)
        pipe = self.client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        return list(pipe.execute(raise_on_error=False))

    def run_script(self, script: Script, keys: Sequence[Any], args: Sequence[Any], replicated: bool = False) -> Any:
        """EVALSHA ``script``; loaded first if the server does not know it (first use, SCRIPT FLUSH).

        ``replicated`` (on a cluster, through the fast path): answered once a replica of the master has
        the write too (see :meth:`_ClusterRoutes.execute_replicated`). A write another slot's write
        depends on asks for it: masters fail over independently, so without it a replica could be
        promoted without a write that another master's (kept) write follows from."""
        send = self.execute_replicated if replicated else self.execute
        try:
            return send("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            self.load_script(script)
            return send("EVALSHA", script.sha, len(keys), *keys, *args)

    def load_script(self, script: Script) -> None:
        """SCRIPT LOAD ``script`` (on every master of a cluster)."""
        if self._fast is not None:
            self._fast.execute("SCRIPT", "LOAD", script.script)
        else:
            self.client.script_load(script.script)

    def run_scripts(self, script: Script, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        """EVALSHA ``script`` once per (keys, args) in ``calls``, in one pipeline (on a cluster, one round
        trip per master involved); the replies in order. Loads the script first where it is unknown. One
        call is sent as :meth:`run_script` sends it (no pipeline)."""
        if len(calls) == 1:
            keys, args = calls[0]
            return [self.run_script(script, keys, args)]
        commands = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
        for attempt in (1, 2):
            replies = self.execute_many(commands)
            if attempt == 1 and any(isinstance(reply, NoScriptError) for reply in replies):
                self.load_script(script)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return list(replies)
        raise AssertionError("unreachable")

    def blocking(self) -> tuple[RedisClient, float | None]:
        """The client for blocking commands, and the longest block it can wait (None: no limit).

        For a URL that is a client of its own whose socket timeout is :data:`LONGEST_BLOCK` plus a margin
        (redis-py aborts a read after its socket timeout, even while the server legitimately blocks; with
        none, a half-open connection would block for ever). A client passed in is used as it is. Either
        way blocking commands are kept a little shorter than the client's socket timeout.
        """
        with self._mutex:
            if self._blocking is None:
                if self._url is not None:
                    self._blocking_name = f"liteflow-blocking-{secrets.token_hex(6)}"
                    options = {
                        **_CLIENT_OPTIONS,
                        "socket_timeout": LONGEST_BLOCK + _BLOCKING_MARGIN,
                        "client_name": self._blocking_name,
                    }
                    self._blocking = client_from_url(self._url, options)
                else:
                    self._blocking = self.client
                limit = socket_timeout(self._blocking)
                if limit is not None:
                    self._blocking_limit = max(limit - _BLOCKING_MARGIN, limit / 2)
                    log.debug("redis.blocking_capped", socket_timeout=limit, longest_block=self._blocking_limit)
            return self._blocking, self._blocking_limit

    def unblock(self) -> None:
        """Wake this object's blocked commands at once (they answer as if their timeout had passed), so a
        stopping host need not wait for them. Only for a URL: a client passed in blocks on its own
        connections, which cannot be told from any others of that client."""
        name = self._blocking_name
        if name is None:
            return
        servers: list[redis.Redis]
        if isinstance(self.client, RedisCluster):
            client = self.client
            servers = [client.get_redis_connection(node) for node in client.get_primaries()]
        else:
            servers = [self.client]
        for server in servers:
            for entry in server.client_list():
                if entry.get("name") == name:
                    server.client_unblock(int(entry["id"]))

    def close(self) -> None:
        """Close the clients this object made; leave a client passed in open."""
        with self._mutex:
            self.closed = True
            blocking, self._blocking = self._blocking, None
        if self._fast is not None:
            self._fast.close()
        if self._routes is not None:
            self._routes.close()
        if not self.owns_client:
            return
        for client in (blocking, self.client):
            if client is not None:
                try:
                    client.close()
                    if isinstance(client, redis.Redis):
                        client.connection_pool.disconnect()
                except redis.RedisError as exc:  # closing is best effort
                    log.debug("redis.close_failed", error=str(exc))


class ConnectionHealth:
    """The health check (:class:`~liteflow.core.interfaces.HealthCheck`) of a Redis provider, which keeps
    its :class:`RedisConnection` as ``_conn`` and, if it checks its store when it is made, that check as
    ``_store_check``: one the server did not answer then is made by the ping (``host.start()``)."""

    _conn: RedisConnection
    _store_check: StoreCheck | None = None

    def describe(self) -> str:
        return self._conn.describe()

    def ping(self, timeout: float) -> None:
        self._conn.ping(timeout)
        if self._store_check is not None:
            self._store_check.ensure(timeout)
