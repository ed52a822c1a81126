"""Redis persistence: instances, subscriptions, events and errors as JSON documents with sorted-set indexes.

The key layout is drawn in :mod:`liteflow.providers.redis.scripts`; how instances and events are spread
over shards (hash slots) in :mod:`liteflow.providers.redis.shards`.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from liteflow.core.changes import changed_pointers, mark_loaded, mark_stored
from liteflow.core.control_state import mark_control
from liteflow.core.engine.events import waiting_in_two_reads
from liteflow.core.errors import (
    ConcurrencyError,
    ControlRequested,
    WorkflowAlreadyExistsError,
    WorkflowNotFoundError,
)
from liteflow.core.interfaces import LockProvider, QueueProvider, QueueType
from liteflow.core.log import logger
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    WorkflowInstance,
    WorkflowStatus,
    engine_state,
)
from liteflow.core.serialization import dump_event, header_json, instance_from_parts, pointer_json
from liteflow.core.visibility import WorkflowQuery, WorkflowVisibility

from . import scripts
from .codec import dumps, micros, millis
from .connection import ConnectionHealth, RedisClient, RedisConnection, RedisSource, provider_errors, text
from .lock import RedisLockProvider
from .meta import PERSISTENCE_BEFORE_SHARDS, check_store
from .queue import RedisQueueProvider
from .schedules import RedisSchedules, RedisWaitLists
from .shards import DEFAULT_SHARDS, Shards

log = logger("redis")

#: The order of the status indexes in SAVE_INSTANCE's KEYS (slot 1..4). Fixed: stored instances name
#: their status by slot.
STATUS_SLOTS: tuple[WorkflowStatus, ...] = (
    WorkflowStatus.RUNNABLE,
    WorkflowStatus.SUSPENDED,
    WorkflowStatus.COMPLETE,
    WorkflowStatus.TERMINATED,
)
_SLOT = {status: str(i + 1) for i, status in enumerate(STATUS_SLOTS)}
_PURGE_BATCH = 500
#: engine_state key of an instance's last write: (its arguments without the token, the token)
_WRITE_TOKEN = "redis_write_token"


#: Most instance hash fields (a pointer each, plus a few) read in the script that takes the lock; a longer
#: history is read with a plain HGETALL after it (copying a hash through a script costs the server 5x).
_MOST_FIELDS_LOCKED_LOAD = 256


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _instance_from_hash(reply: Any) -> WorkflowInstance | None:
    """The instance an instance hash holds (HGETALL's reply: flat list or mapping), or None if empty.
    What it loads counts as stored (see ``liteflow.core.changes``)."""
    if not reply:
        return None
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    header: bytes | None = None
    control: bytes | None = None
    pointers: list[tuple[int, bytes]] = []
    for field, value in items:
        name = _as_bytes(field)
        if name[:1].isdigit():
            pointers.append((int(name), _as_bytes(value)))
        elif name == b"doc":
            header = _as_bytes(value)
        elif name == b"ctl":
            control = _as_bytes(value)
    if header is None:
        return None
    pointers.sort()
    instance = instance_from_parts(header, [document for _, document in pointers])
    mark_loaded(instance)
    mark_control(instance, control)
    return instance


def _pairs(reply: Any) -> Any:
    """(member, score) pairs of a WITHSCORES reply: flat (RESP2) or already paired."""
    if not reply or not isinstance(reply[0], (list, tuple)):
        return zip(reply[::2], reply[1::2], strict=True)
    return reply


def _name_key(event_name: str, event_key: str) -> str:
    """An unambiguous key suffix for (name, key): the name's byte length, the name, then the key."""
    return f"{len(event_name.encode())}:{event_name}:{event_key}"


class _ShardKeys:
    """The keys of one shard (every one starts with the shard's hash-tagged ``base``)."""

    def __init__(self, base: str) -> None:
        self.instance = base + "wf:"
        self.errors = base + "errors:"
        self.runnable = base + "idx:runnable"
        self.status = {status: f"{base}idx:status:{status.value}" for status in STATUS_SLOTS}
        self.created = base + "idx:created"
        self.created_status = {status: f"{base}idx:created:{status.value}" for status in STATUS_SLOTS}
        self.definition = base + "idx:def:"
        self.reference = base + "idx:ref:"
        self.sub = base + "sub"
        self.sub_where = base + "sub:where"
        self.sub_index = base + "idx:sub:"
        self.event = base + "event"
        self.events = base + "idx:events"
        self.event_index = base + "idx:event:"
        self.unprocessed = base + "idx:unprocessed"
        #: SAVE_INSTANCE's KEYS 2..13
        self.save = (
            self.runnable,
            *self.status.values(),
            self.sub,
            self.sub_where,
            self.created,
            *self.created_status.values(),
        )


def _shard_count(conn: RedisConnection, shards: int | None) -> int:
    if shards is not None:
        return shards
    given = conn.options.get("shards")
    if given is None:
        return DEFAULT_SHARDS
    try:
        return int(given)
    except ValueError:
        raise ValueError(f"the shards option must be a whole number, got {given!r}") from None


class RedisPersistenceProvider(ConnectionHealth, RedisSchedules, RedisWaitLists, WorkflowVisibility):
    """Persistence in Redis, safe for any number of hosts sharing one server or one Redis Cluster.

    Guarantees:

    * documents are compact JSON (workflow data stays JSON on load; the host rebuilds it);
    * ``create_workflow`` and ``persist_workflow`` are each one atomic server-side step (one EVALSHA):
      the existence check or revision compare-and-set, the pending control request check, the
      subscriptions and every index change happen together or not at all, so a
      :class:`ConcurrencyError` (:class:`ControlRequested` included), :class:`WorkflowNotFoundError`
      or :class:`WorkflowAlreadyExistsError` means nothing was stored;
    * queries read sorted-set indexes, never scan: runnable instances by ``next_execution``,
      subscriptions and events by (name, key) and time (oldest first), unprocessed events by time,
      instances by status for purging;
    * instances and events are spread over ``shards`` shards by id (default 16; the ``shards`` URL
      option, or the argument): an instance's hash, error list, subscriptions and index entries are in
      its shard, so each script names keys of one hash slot (as a Redis Cluster needs). A read across
      instances (the runnable poller, visibility, an event's subscriptions) reads every shard in one
      pipeline and merges. Every host of a store must use the same ``shards``: the store records its
      count (``<prefix>meta:shards``, set by the first provider to open it), and a provider opened with
      another count is refused (ValueError naming both), as is a store holding keys of the layout before
      shards (see :mod:`liteflow.providers.redis.meta`); one pipeline when made, nothing afterwards;
    * every key starts with ``prefix``; redis-py errors surface as :class:`ProviderError`.
    """

    stores_json = True

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:", shards: int | None = None) -> None:
        self._conn = RedisConnection(url_or_client, prefix)
        try:
            self._shards = Shards(prefix, _shard_count(self._conn, shards))
            self._store_check = check_store(self._conn, self._shards.count, PERSISTENCE_BEFORE_SHARDS)
        except ValueError:
            self._conn.close()
            raise
        self._keys = tuple(_ShardKeys(base) for base in self._shards.bases)
        self._save_instance = self._conn.script(scripts.SAVE_INSTANCE)
        # write tokens: this provider's random prefix and a counter (no os.urandom per write: it releases
        # the interpreter lock, and taking it back costs a busy host more than the rest of the call)
        self._writer = secrets.token_hex(8) + ":"
        self._writes = itertools.count(1)
        self._save_subscriptions = self._conn.script(scripts.SAVE_SUBSCRIPTIONS)
        self._request_control = self._conn.script(scripts.REQUEST_CONTROL)
        self._terminate_subscription = self._conn.script(scripts.TERMINATE_SUBSCRIPTION)
        self._fetch_indexed = self._conn.script(scripts.FETCH_INDEXED)
        self._fetch_waiting = self._conn.script(scripts.FETCH_WAITING)
        self._mark_unprocessed = self._conn.script(scripts.MARK_UNPROCESSED)
        self._purge = self._conn.script(scripts.PURGE)
        self._list = self._conn.script(scripts.LIST_INSTANCES)
        self._create_event = self._conn.script(scripts.CREATE_EVENT)
        self._get_event = self._conn.script(scripts.GET_EVENT)
        self._purge_events = self._conn.script(scripts.PURGE_EVENTS)

    @property
    def client(self) -> RedisClient:
        """The redis-py client this provider uses."""
        return self._conn.client

    @property
    def shards(self) -> int:
        """How many shards instances and events are spread over."""
        return self._shards.count

    def _shard(self, item_id: str) -> _ShardKeys:
        return self._keys[self._shards.of(item_id)]

    def _each_shard(self, command: Any) -> list[Any]:
        """``command(keys)`` (a command's arguments) for every shard, sent in one pipeline; the replies."""
        replies = self._conn.execute_many([command(keys) for keys in self._keys])
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _fetch_across_shards(self, queries: Sequence[tuple[Sequence[tuple[str, ...]], list[Any]]]) -> list[list[Any]]:
        """FETCH_INDEXED over every shard's key group, for each (groups, bounds) in ``queries``, all in one
        pipeline: one script call a query on one server (where any keys may go together), one a shard on
        a cluster; each query's {documents, flags} replies."""
        calls: list[tuple[list[str], list[Any]]] = []
        for groups, bounds in queries:
            args = [*bounds, len(groups[0])]
            if self._conn.cluster:
                calls += ((list(group), args) for group in groups)
            else:
                calls.append(([key for group in groups for key in group], args))
        replies = self._conn.run_scripts(self._fetch_indexed, calls)
        per_query = len(self._keys) if self._conn.cluster else 1
        return [replies[n * per_query : (n + 1) * per_query] for n in range(len(queries))]

    def _due(self, index: Any, until: int) -> list[str]:
        """The ids scored up to ``until`` in every shard's ``index(keys)``, lowest score first (equal
        scores: by id), in one pipeline."""
        replies = self._each_shard(lambda keys: ("ZRANGEBYSCORE", index(keys), "-inf", until, "WITHSCORES"))
        found = [(float(score), _as_bytes(i)) for reply in replies for i, score in _pairs(reply)]
        found.sort()
        return [i.decode() for _, i in found]

    # -- instances -------------------------------------------------------------------------------------
    def create_workflow(self, instance: WorkflowInstance) -> str:
        self._store(instance, (), expected=None)
        instance.revision = 1
        return instance.id

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        self._store(instance, subscriptions, instance.revision, ended_subscriptions, control_applied)
        instance.revision += 1

    def request_control(self, workflow_id: str, expected: str | None, requests: str) -> bool:
        with provider_errors("request_control"):
            outcome = self._conn.run_script(  # replicated: an accepted request must survive a failover
                self._request_control,
                [self._shard(workflow_id).instance + workflow_id],
                [expected or "", requests],
                replicated=True,
            )
        if outcome == -1:
            raise WorkflowNotFoundError(workflow_id)
        return bool(outcome == 1)

    def _store(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription],
        expected: int | None,
        ended: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        revision = 1 if expected is None else expected + 1
        written = changed_pointers(instance)
        current, instance.revision = instance.revision, revision
        try:
            header = header_json(instance)
            pointers = [pointer_json(pointer) for _, pointer in written]
        finally:
            instance.revision = current
        status = WorkflowStatus(instance.status)
        runnable = status is WorkflowStatus.RUNNABLE and instance.next_execution is not None
        shard = self._shard(instance.id)
        keys = [
            shard.instance + instance.id,
            *shard.save,
            shard.definition + instance.workflow_definition_id,
            shard.reference + (instance.reference or ""),
        ]
        args: list[Any] = [
            "" if expected is None else expected,
            header,
            revision,
            _SLOT[status],
            micros(instance.complete_time or instance.create_time),
            instance.next_execution if runnable else "",
            instance.id,
            len(instance.execution_pointers),
            "",  # the write token, below
            control_applied or "",
            micros(instance.create_time),
            instance.workflow_definition_id,
            "" if instance.reference is None else "1",
            instance.reference or "",
            len(written),
        ]
        for (position, _), document in zip(written, pointers, strict=True):
            args += (position, document)
        args.append(len(ended))
        args.extend(ended)
        self._add_subscriptions(shard, subscriptions, keys, args)
        args[8] = self._write_token(instance, args)
        with provider_errors("persist_workflow"):
            outcome = self._conn.run_script(self._save_instance, keys, args, replicated=True)
        if outcome == 1:
            mark_stored(instance, written)
            return
        if outcome == -1:
            raise WorkflowNotFoundError(instance.id)
        if outcome == -2:
            raise WorkflowAlreadyExistsError(instance.id)
        if isinstance(outcome, (bytes, str)):
            raise ControlRequested(instance.id, instance.revision, text(outcome))
        log.debug("persist.conflict", workflow_id=instance.id, revision=instance.revision)
        raise ConcurrencyError(instance.id, instance.revision)

    def _write_token(self, instance: WorkflowInstance, args: list[Any]) -> str:
        """A token new for each write, but the same when the very same write (same expected revision,
        same content) of this instance is sent again after it failed: if the first had been stored and
        only its answer lost, the second finds its own token and succeeds instead of failing the
        compare-and-set. A different write is never taken for it (it fails the compare-and-set)."""
        state = engine_state(instance)
        write = tuple(args)
        last = state.get(_WRITE_TOKEN)
        if last is not None and last[0] == write:
            return str(last[1])
        token = f"{self._writer}{next(self._writes)}"
        state[_WRITE_TOKEN] = (write, token)
        return token

    @staticmethod
    def _add_subscriptions(
        shard: _ShardKeys, subscriptions: Sequence[EventSubscription], keys: list[str], args: list[Any]
    ) -> None:
        for subscription in subscriptions:
            keys.append(shard.sub_index + _name_key(subscription.event_name, subscription.event_key))
            args += (subscription.id, subscription.model_dump_json(), micros(subscription.subscribe_as_of))

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        with provider_errors("get_workflow_instance"):
            reply = self._conn.execute("HGETALL", self._shard(workflow_id).instance + workflow_id)
        instance = _instance_from_hash(reply)
        if instance is None:
            raise WorkflowNotFoundError(workflow_id)
        return instance

    def locked_loads(self, lock: LockProvider) -> Callable[[str], WorkflowInstance | None] | None:
        """For a Redis lock provider on this server (not a cluster): a function that takes a workflow's lock
        and reads the instance in one script (:class:`~liteflow.core.interfaces.SupportsLockedLoads`)."""
        if type(lock) is not RedisLockProvider:  # a subclass may take its locks its own way
            return None
        lock_key = lock.keys_for(self._conn.server())
        if lock_key is None:
            return None
        script = self._conn.script(scripts.LOCK_AND_LOAD)
        lease_ms = lock.lease_ms

        def locked_load(workflow_id: str) -> WorkflowInstance | None:
            keys = [lock_key(workflow_id), self._shard(workflow_id).instance + workflow_id]
            replies: list[Any] = []

            def take(token: str) -> bool:
                with provider_errors("lock_and_load"):
                    replies.append(self._conn.run_script(script, keys, [token, lease_ms, _MOST_FIELDS_LOCKED_LOAD]))
                return replies[0] != 0

            token = lock.acquire_lock_with(workflow_id, take)
            if token is None:
                return None
            try:
                if replies[0] == 1:  # a long history: read on its own
                    return self.get_workflow_instance(workflow_id)
                instance = _instance_from_hash(replies[0])
            except WorkflowNotFoundError:
                raise
            except BaseException:  # a failed read, or a document this host cannot read: the lock goes
                lock.release_lock(workflow_id, token)
                raise
            if instance is None:
                raise WorkflowNotFoundError(workflow_id)
            return instance

        return locked_load

    def get_revision(self, workflow_id: str) -> int | None:
        """The stored instance's revision (None if there is none): lets a host reuse an instance it still
        holds in memory instead of loading it again."""
        with provider_errors("get_revision"):
            raw, control = self._conn.execute("HMGET", self._shard(workflow_id).instance + workflow_id, "rev", "ctl")
        # a pending control request: None, so the host loads the instance, which carries it
        return None if raw is None or control is not None else int(raw)

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        if not workflow_ids:
            return []
        with provider_errors("get_workflow_instances"):
            replies = self._conn.execute_many(
                [("HGETALL", self._shard(workflow_id).instance + workflow_id) for workflow_id in workflow_ids]
            )
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return [i for i in map(_instance_from_hash, replies) if i is not None]

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        with provider_errors("get_runnable_instances"):
            return self._due(lambda keys: keys.runnable, millis(as_at))

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Deletes the instances (with their index entries, error lists and subscriptions) in ``status`` whose
        ``complete_time`` (or ``create_time``) is before ``older_than``, in atomic batches."""
        status = WorkflowStatus(status)
        total = 0
        for shard in self._keys:
            keys = [
                shard.status[status],
                shard.runnable,
                shard.sub,
                shard.sub_where,
                shard.created,
                shard.created_status[status],
            ]
            args: list[Any] = [
                f"({micros(older_than)}",
                _PURGE_BATCH,
                shard.instance,
                shard.errors,
                shard.definition,
                shard.reference,
            ]
            with provider_errors("purge_workflows"):
                while True:
                    deleted = int(self._conn.run_script(self._purge, keys, args))
                    total += deleted
                    if deleted < _PURGE_BATCH:
                        break
        log.info("purge.done", status=WorkflowStatus(status).value, deleted=total)
        return total

    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        """Read from the create-time indexes (see ``scripts.LIST_INSTANCES``), then loaded in one pipeline."""
        with provider_errors("list_workflows"):
            ids = self._list_ids(query, skip, take)
        return self.get_workflow_instances(ids)

    def count_matching(self, query: WorkflowQuery) -> int:
        with provider_errors("count_workflows"):
            return self._count(query)

    def _list_ids(self, query: WorkflowQuery, skip: int, take: int) -> list[str]:
        """The ids of page (skip, take) of ``query``, newest first (equal create times: the larger id
        first), merged from every shard: each shard's first ``skip + take`` with their scores, in one
        pipeline, then sorted together."""
        if take == 0:
            return []
        if len(self._keys) == 1:
            keys, args = self._list_args(self._keys[0], query, skip, take)
            return [text(i) for i in self._conn.run_script(self._list, keys, args)]
        calls = [self._list_args(shard, query, 0, skip + take, scores=True) for shard in self._keys]
        found: list[tuple[float, bytes]] = []
        for reply in self._conn.run_scripts(self._list, calls):
            found += ((float(score), _as_bytes(i)) for i, score in zip(reply[::2], reply[1::2], strict=True))
        found.sort(reverse=True)
        return [i.decode() for _, i in found[skip : skip + take]]

    def _count(self, query: WorkflowQuery) -> int:
        """How many instances match ``query``: the sum of every shard's count, in one pipeline."""
        calls = [self._list_args(shard, query, 0, -1) for shard in self._keys]
        return sum(int(n) for n in self._conn.run_scripts(self._list, calls))

    @staticmethod
    def _list_args(
        shard: _ShardKeys, query: WorkflowQuery, skip: int, take: int, scores: bool = False
    ) -> tuple[list[str], list[Any]]:
        keys = []
        if query.status is not None:
            keys.append(shard.created_status[query.status])
        if query.definition_id is not None:
            keys.append(shard.definition + query.definition_id)
        if query.reference is not None:
            keys.append(shard.reference + query.reference)
        low = "-inf" if query.created_from is None else micros(query.created_from)
        high = "+inf" if query.created_to is None else f"({micros(query.created_to)}"
        return keys or [shard.created], [low, high, skip, take, "1" if scores else ""]

    # -- subscriptions ---------------------------------------------------------------------------------
    def create_event_subscription(self, subscription: EventSubscription) -> str:
        shard = self._shard(subscription.workflow_id)
        keys = [shard.sub, shard.sub_where]
        args: list[Any] = []
        self._add_subscriptions(shard, [subscription], keys, args)
        # replicated: once answered it survives a failover (a template's record of a running instance, which
        # its overrun policy reads; the start that follows it in the same shard waits too)
        with provider_errors("create_event_subscription"):
            self._conn.run_script(self._save_subscriptions, keys, args, replicated=True)
        return subscription.id

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        """Read from every shard (a subscription is in its instance's shard) in one pipeline; oldest
        first (equal times: by id)."""
        return self.get_subscriptions_many([(event_name, event_key, as_of)])[0]

    def get_subscriptions_many(self, queries: Sequence[tuple[str, str, datetime]]) -> list[list[EventSubscription]]:
        """``get_subscriptions`` for each (name, key, as_of), all in one pipeline."""
        if not queries:
            return []
        fetches = [
            ([(shard.sub_index + _name_key(name, key), shard.sub) for shard in self._keys], ["-inf", micros(as_of)])
            for name, key, as_of in queries
        ]
        with provider_errors("get_subscriptions"):
            answers = self._fetch_across_shards(fetches)
        return [self._subscriptions_from([doc for docs, _ in replies for doc in docs]) for replies in answers]

    def _subscriptions_from(self, documents: list[Any]) -> list[EventSubscription]:
        """Subscriptions read from every shard, oldest first (equal times: by id)."""
        subscriptions = [EventSubscription.model_validate_json(doc) for doc in documents]
        if self._shards.count > 1:  # merged from several shards
            subscriptions.sort(key=lambda s: (micros(s.subscribe_as_of), s.id))
        return subscriptions

    def terminate_subscription(self, subscription_id: str, *, workflow_id: str | None = None) -> None:
        """A subscription is in its instance's shard: with ``workflow_id``, only that shard is told; without,
        (a subscription id does not name its instance) every shard is, in one pipeline."""
        shards = self._keys if workflow_id is None else (self._shard(workflow_id),)
        calls = [([shard.sub, shard.sub_where], [subscription_id]) for shard in shards]
        with provider_errors("terminate_subscription"):
            self._conn.run_scripts(self._terminate_subscription, calls)

    # -- events ----------------------------------------------------------------------------------------
    def create_event(self, event: Event) -> str:
        keys = self._event_keys(event)
        args = [event.id, dumps(dump_event(event)), micros(event.event_time), "1" if event.is_processed else "0"]
        with provider_errors("create_event"):
            self._conn.run_script(self._create_event, keys, args, replicated=True)
        return event.id

    def queued_events(self, queue: QueueProvider) -> Callable[[Event], None] | None:
        """For a Redis queue on this server (not a cluster): a function that stores an event and queues it
        in one script (:class:`~liteflow.core.interfaces.SupportsQueuedEvents`)."""
        if not isinstance(queue, RedisQueueProvider):
            return None
        push = queue.push_keys(QueueType.EVENT, self._conn.server())
        if push is None:
            return None
        create = self._conn.script(scripts.CREATE_EVENT_QUEUED)

        def create_queued(event: Event) -> None:
            keys = [*self._event_keys(event), *push]
            args = [event.id, dumps(dump_event(event)), micros(event.event_time)]
            with provider_errors("create_event"):
                self._conn.run_script(create, keys, args)

        return create_queued

    def _event_keys(self, event: Event) -> list[str]:
        """The keys an event is stored under: its shard's hash, the time index, its (name, key) index and
        the unprocessed index."""
        shard = self._shard(event.id)
        name_key = _name_key(event.event_name, event.event_key)
        return [shard.event, shard.events, shard.event_index + name_key, shard.unprocessed]

    def purge_events(self, older_than: datetime, limit: int | None = None) -> int:
        """Processed events before ``older_than`` go, with their index entries, in batches of 500 (one
        atomic script per batch and shard); with ``limit``, only (at most) that many of the oldest events
        before then are looked at."""
        before = f"({micros(older_than)}"
        paging = () if limit is None else ("LIMIT", 0, limit)
        with provider_errors("purge_events"):
            replies = self._each_shard(
                lambda keys: ("ZRANGEBYSCORE", keys.events, "-inf", before, "WITHSCORES", *paging)
            )
            found: list[tuple[float, str, int]] = []
            for n, reply in enumerate(replies):
                found += ((float(score), text(i), n) for i, score in _pairs(reply))
            if limit is not None:
                found = sorted(found)[:limit]
            per_shard: dict[int, list[str]] = {}
            for _, event_id, n in found:
                per_shard.setdefault(n, []).append(event_id)
            purged = 0
            for n, ids in per_shard.items():
                shard = self._keys[n]
                for start in range(0, len(ids), 500):
                    batch = ids[start : start + 500]
                    keys = [shard.event, shard.events, shard.unprocessed]
                    purged += int(self._conn.run_script(self._purge_events, keys, [shard.event_index, *batch]))
        return purged

    def get_event(self, event_id: str) -> Event:
        """Raises KeyError for an unknown id."""
        shard = self._shard(event_id)
        with provider_errors("get_event"):
            raw, unprocessed = self._conn.run_script(self._get_event, [shard.event, shard.unprocessed], [event_id])
        if raw is None:
            raise KeyError(event_id)
        return self._load_event(raw, processed=not unprocessed)

    def get_events_by_id(self, event_ids: Sequence[str]) -> list[Event | None]:
        """``get_event`` for each id (None for an unknown one), in one pipeline."""
        if not event_ids:
            return []
        calls = [([s.event, s.unprocessed], [i]) for i, s in ((i, self._shard(i)) for i in event_ids)]
        with provider_errors("get_event"):
            replies = self._conn.run_scripts(self._get_event, calls)
        return [None if raw is None else self._load_event(raw, processed=not flag) for raw, flag in replies]

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        """Read from every shard (an event is in the shard of its id) in one pipeline; oldest first
        (equal times: by id)."""
        return self.get_events_many([(event_name, event_key, since, until)])[0]

    def get_events_many(self, queries: Sequence[tuple[str, str, datetime, datetime]]) -> list[list[Event]]:
        """``get_events`` for each (name, key, since, until), all in one pipeline."""
        if not queries:
            return []
        fetches = [
            (
                [(s.event_index + _name_key(name, key), s.event, s.unprocessed) for s in self._keys],
                [micros(since), micros(until)],
            )
            for name, key, since, until in queries
        ]
        with provider_errors("get_events"):
            answers = self._fetch_across_shards(fetches)
        return [
            self._events_from([pair for docs, flags in replies for pair in zip(docs, flags, strict=True)])
            for replies in answers
        ]

    def _events_from(self, documents: list[tuple[Any, Any]]) -> list[Event]:
        """Events read from every shard, each with its unprocessed flag, oldest first (equal times: by id)."""
        events = [self._load_event(doc, processed=not flag) for doc, flag in documents]
        if self._shards.count > 1:  # merged from several shards
            events.sort(key=lambda e: (micros(e.event_time), e.id))
        return events

    def get_waiting_many(
        self, queries: Sequence[tuple[str, str, datetime, datetime]]
    ) -> list[tuple[list[EventSubscription], list[Event]]]:
        """For each (name, key, as_of, until): the subscriptions waiting and the events they may receive
        (:class:`~liteflow.core.interfaces.SupportsWaitingReads`), one script call each, all in one
        pipeline; on a cluster (whose scripts name keys of one slot) the two reads one after the other."""
        if not queries:
            return []
        if self._conn.cluster:
            return waiting_in_two_reads(self, queries)
        calls = []
        for name, key, as_of, until in queries:
            name_key = _name_key(name, key)
            keys = [
                shard_key
                for s in self._keys
                for shard_key in (s.sub_index + name_key, s.sub, s.event_index + name_key, s.event, s.unprocessed)
            ]
            calls.append((keys, [micros(as_of), micros(until)]))
        with provider_errors("get_waiting"):
            replies = self._conn.run_scripts(self._fetch_waiting, calls)
        return [
            (self._subscriptions_from(subs), self._events_from(list(zip(docs, flags, strict=True))))
            for subs, docs, flags in replies
        ]

    @staticmethod
    def _load_event(raw: bytes | str, processed: bool) -> Event:
        event = Event.model_validate(json.loads(raw))
        event.is_processed = processed  # the unprocessed index is the truth, not the stored flag
        return event

    def get_runnable_events(self, as_at: datetime) -> list[str]:
        with provider_errors("get_runnable_events"):
            return self._due(lambda keys: keys.unprocessed, micros(as_at))

    def mark_event_processed(self, event_id: str) -> None:
        with provider_errors("mark_event_processed"):
            self._conn.execute("ZREM", self._shard(event_id).unprocessed, event_id)

    def mark_event_unprocessed(self, event_id: str) -> None:
        shard = self._shard(event_id)
        with provider_errors("mark_event_unprocessed"):
            self._conn.run_script(self._mark_unprocessed, [shard.events, shard.unprocessed], [event_id])

    # -- errors ----------------------------------------------------------------------------------------
    def persist_errors(self, errors: Sequence[ExecutionError]) -> None:
        if not errors:
            return
        per_workflow: dict[str, list[str]] = {}
        for error in errors:
            per_workflow.setdefault(error.workflow_id, []).append(error.model_dump_json())
        # One RPUSH per workflow: each workflow's errors at once. On one server they go in one MULTI/EXEC, all
        # or none, so a resend after a dropped connection cannot store some twice; on a cluster, the workflows'
        # lists are in several slots, each RPUSH atomic on its own and answered once a replica has it: the
        # errors are written after the pass's persist (which waited), so without it a failover could keep the
        # failed step and lose its errors. After a broken connection the RPUSH is sent again (as redis-py's
        # cluster pipeline did before), which can store them twice.
        with provider_errors("persist_errors"):
            if self._conn.cluster:
                for workflow_id, docs in per_workflow.items():
                    self._conn.execute_replicated("RPUSH", self._shard(workflow_id).errors + workflow_id, *docs)
                return
            pipe = self._conn.client.pipeline(transaction=True)
            for workflow_id, docs in per_workflow.items():
                pipe.rpush(self._shard(workflow_id).errors + workflow_id, *docs)
            pipe.execute()

    def get_errors(self, workflow_id: str) -> list[ExecutionError]:
        with provider_errors("get_errors"):
            raws = self._conn.client.lrange(self._shard(workflow_id).errors + workflow_id, 0, -1)
        return [ExecutionError.model_validate_json(raw) for raw in raws]

    def close(self) -> None:
        self._conn.close()
