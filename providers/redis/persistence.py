"""Redis persistence: instances, subscriptions, events and errors as JSON documents with sorted-set indexes.

The key layout is drawn in :mod:`liteflow.providers.redis.scripts`.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis

from liteflow.core.changes import changed_pointers, mark_loaded, mark_stored
from liteflow.core.control_state import mark_control
from liteflow.core.errors import (
    ConcurrencyError,
    ControlRequested,
    WorkflowAlreadyExistsError,
    WorkflowNotFoundError,
)
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
from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors, text
from .schedules import RedisSchedules, RedisWaitLists

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


def _name_key(event_name: str, event_key: str) -> str:
    """An unambiguous key suffix for (name, key): the name's byte length, the name, then the key."""
    return f"{len(event_name.encode())}:{event_name}:{event_key}"


class RedisPersistenceProvider(ConnectionHealth, RedisSchedules, RedisWaitLists, WorkflowVisibility):
    """Persistence in Redis, safe for any number of hosts sharing one server.

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
    * every key starts with ``prefix``; redis-py errors surface as :class:`ProviderError`.
    """

    stores_json = True

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:") -> None:
        self._conn = RedisConnection(url_or_client, prefix)
        key = self._conn.key
        self._k_instance = key("wf:")
        self._k_errors = key("errors:")
        self._k_runnable = key("idx:runnable")
        self._k_status = {status: key("idx:status:", status.value) for status in STATUS_SLOTS}
        self._k_created = key("idx:created")
        self._k_created_status = {status: key("idx:created:", status.value) for status in STATUS_SLOTS}
        self._k_definition = key("idx:def:")
        self._k_reference = key("idx:ref:")
        self._k_sub = key("sub")
        self._k_sub_where = key("sub:where")
        self._k_sub_index = key("idx:sub:")
        self._k_event = key("event")
        self._k_events = key("idx:events")
        self._k_event_index = key("idx:event:")
        self._k_unprocessed = key("idx:unprocessed")
        #: SAVE_INSTANCE's KEYS 2..13, the same for every instance
        self._save_keys = (
            self._k_runnable,
            *self._k_status.values(),
            self._k_sub,
            self._k_sub_where,
            self._k_created,
            *self._k_created_status.values(),
        )
        self._save_instance = self._conn.script(scripts.SAVE_INSTANCE)
        # write tokens: this provider's random prefix and a counter (no os.urandom per write: it releases
        # the interpreter lock, and taking it back costs a busy host more than the rest of the call)
        self._writer = secrets.token_hex(8) + ":"
        self._writes = itertools.count(1)
        self._save_subscriptions = self._conn.script(scripts.SAVE_SUBSCRIPTIONS)
        self._request_control = self._conn.script(scripts.REQUEST_CONTROL)
        self._terminate_subscription = self._conn.script(scripts.TERMINATE_SUBSCRIPTION)
        self._fetch_indexed = self._conn.script(scripts.FETCH_INDEXED)
        self._mark_unprocessed = self._conn.script(scripts.MARK_UNPROCESSED)
        self._purge = self._conn.script(scripts.PURGE)
        self._list = self._conn.script(scripts.LIST_INSTANCES)
        self._create_event = self._conn.script(scripts.CREATE_EVENT)
        self._get_event = self._conn.script(scripts.GET_EVENT)

    @property
    def client(self) -> redis.Redis:
        """The redis-py client this provider uses."""
        return self._conn.client

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
            outcome = self._conn.run_script(
                self._request_control, [self._k_instance + workflow_id], [expected or "", requests]
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
        keys = [
            self._k_instance + instance.id,
            *self._save_keys,
            self._k_definition + instance.workflow_definition_id,
            self._k_reference + (instance.reference or ""),
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
        self._add_subscriptions(subscriptions, keys, args)
        args[8] = self._write_token(instance, args)
        with provider_errors("persist_workflow"):
            outcome = self._conn.run_script(self._save_instance, keys, args)
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

    def _add_subscriptions(self, subscriptions: Sequence[EventSubscription], keys: list[str], args: list[Any]) -> None:
        for subscription in subscriptions:
            keys.append(self._k_sub_index + _name_key(subscription.event_name, subscription.event_key))
            args += (subscription.id, subscription.model_dump_json(), micros(subscription.subscribe_as_of))

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        with provider_errors("get_workflow_instance"):
            reply = self._conn.execute("HGETALL", self._k_instance + workflow_id)
        instance = _instance_from_hash(reply)
        if instance is None:
            raise WorkflowNotFoundError(workflow_id)
        return instance

    def get_revision(self, workflow_id: str) -> int | None:
        """The stored instance's revision (None if there is none): lets a host reuse an instance it still
        holds in memory instead of loading it again."""
        with provider_errors("get_revision"):
            raw, control = self._conn.execute("HMGET", self._k_instance + workflow_id, "rev", "ctl")
        # a pending control request: None, so the host loads the instance, which carries it
        return None if raw is None or control is not None else int(raw)

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        if not workflow_ids:
            return []
        with provider_errors("get_workflow_instances"):
            pipe = self._conn.client.pipeline(transaction=False)
            for workflow_id in workflow_ids:
                pipe.hgetall(self._k_instance + workflow_id)
            replies = pipe.execute()
        return [i for i in map(_instance_from_hash, replies) if i is not None]

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        with provider_errors("get_runnable_instances"):
            ids = self._conn.client.zrangebyscore(self._k_runnable, "-inf", millis(as_at))
        return [text(i) for i in ids]

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Deletes the instances (with their index entries, error lists and subscriptions) in ``status`` whose
        ``complete_time`` (or ``create_time``) is before ``older_than``, in atomic batches."""
        status = WorkflowStatus(status)
        keys = [
            self._k_status[status],
            self._k_runnable,
            self._k_sub,
            self._k_sub_where,
            self._k_created,
            self._k_created_status[status],
        ]
        args: list[Any] = [
            f"({micros(older_than)}",
            _PURGE_BATCH,
            self._k_instance,
            self._k_errors,
            self._k_definition,
            self._k_reference,
        ]
        total = 0
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
            ids = self._conn.run_script(self._list, *self._list_args(query, skip, take))
        return self.get_workflow_instances([text(i) for i in ids])

    def count_matching(self, query: WorkflowQuery) -> int:
        with provider_errors("count_workflows"):
            return int(self._conn.run_script(self._list, *self._list_args(query, 0, -1)))

    def _list_args(self, query: WorkflowQuery, skip: int, take: int) -> tuple[list[str], list[Any]]:
        keys = []
        if query.status is not None:
            keys.append(self._k_created_status[query.status])
        if query.definition_id is not None:
            keys.append(self._k_definition + query.definition_id)
        if query.reference is not None:
            keys.append(self._k_reference + query.reference)
        low = "-inf" if query.created_from is None else micros(query.created_from)
        high = "+inf" if query.created_to is None else f"({micros(query.created_to)}"
        return keys or [self._k_created], [low, high, skip, take]

    # -- subscriptions ---------------------------------------------------------------------------------
    def create_event_subscription(self, subscription: EventSubscription) -> str:
        keys = [self._k_sub, self._k_sub_where]
        args: list[Any] = []
        self._add_subscriptions([subscription], keys, args)
        with provider_errors("create_event_subscription"):
            self._conn.run_script(self._save_subscriptions, keys, args)
        return subscription.id

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        index = self._k_sub_index + _name_key(event_name, event_key)
        with provider_errors("get_subscriptions"):
            docs, _ = self._conn.run_script(self._fetch_indexed, [index, self._k_sub], ["-inf", micros(as_of)])
        return [EventSubscription.model_validate_json(doc) for doc in docs]

    def terminate_subscription(self, subscription_id: str) -> None:
        with provider_errors("terminate_subscription"):
            self._conn.run_script(self._terminate_subscription, [self._k_sub, self._k_sub_where], [subscription_id])

    # -- events ----------------------------------------------------------------------------------------
    def create_event(self, event: Event) -> str:
        keys = [
            self._k_event,
            self._k_events,
            self._k_event_index + _name_key(event.event_name, event.event_key),
            self._k_unprocessed,
        ]
        args = [event.id, dumps(dump_event(event)), micros(event.event_time), "1" if event.is_processed else "0"]
        with provider_errors("create_event"):
            self._conn.run_script(self._create_event, keys, args)
        return event.id

    def purge_events(self, older_than: datetime, limit: int | None = None) -> int:
        """Processed events before ``older_than`` go, with their index entries, in batches of 500; with
        ``limit``, only (at most) that many of the oldest events before then are looked at."""
        purged = 0
        with provider_errors("purge_events"):
            client = self._conn.client
            # exclusive bound: "(" + score
            start, num = (None, None) if limit is None else (0, limit)
            found = client.zrangebyscore(self._k_events, "-inf", f"({micros(older_than)}", start=start, num=num)
            ids = [text(i) for i in found]
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                pipe = client.pipeline(transaction=False)
                for event_id in batch:
                    pipe.hget(self._k_event, event_id)
                    pipe.zscore(self._k_unprocessed, event_id)
                found = pipe.execute()
                pipe = client.pipeline(transaction=True)
                for event_id, raw, unprocessed in zip(batch, found[::2], found[1::2], strict=True):
                    if raw is None or unprocessed is not None:
                        continue
                    event = self._load_event(raw, processed=True)
                    pipe.hdel(self._k_event, event_id)
                    pipe.zrem(self._k_events, event_id)
                    pipe.zrem(self._k_event_index + _name_key(event.event_name, event.event_key), event_id)
                    purged += 1
                pipe.execute()
        return purged

    def get_event(self, event_id: str) -> Event:
        """Raises KeyError for an unknown id."""
        with provider_errors("get_event"):
            raw, unprocessed = self._conn.run_script(self._get_event, [self._k_event, self._k_unprocessed], [event_id])
        if raw is None:
            raise KeyError(event_id)
        return self._load_event(raw, processed=not unprocessed)

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        index = self._k_event_index + _name_key(event_name, event_key)
        with provider_errors("get_events"):
            docs, flags = self._conn.run_script(
                self._fetch_indexed, [index, self._k_event, self._k_unprocessed], [micros(since), micros(until)]
            )
        return [self._load_event(doc, processed=not flag) for doc, flag in zip(docs, flags, strict=True)]

    @staticmethod
    def _load_event(raw: bytes | str, processed: bool) -> Event:
        event = Event.model_validate(json.loads(raw))
        event.is_processed = processed  # the unprocessed index is the truth, not the stored flag
        return event

    def get_runnable_events(self, as_at: datetime) -> list[str]:
        with provider_errors("get_runnable_events"):
            ids = self._conn.client.zrangebyscore(self._k_unprocessed, "-inf", micros(as_at))
        return [text(i) for i in ids]

    def mark_event_processed(self, event_id: str) -> None:
        with provider_errors("mark_event_processed"):
            self._conn.execute("ZREM", self._k_unprocessed, event_id)

    def mark_event_unprocessed(self, event_id: str) -> None:
        with provider_errors("mark_event_unprocessed"):
            self._conn.run_script(self._mark_unprocessed, [self._k_events, self._k_unprocessed], [event_id])

    # -- errors ----------------------------------------------------------------------------------------
    def persist_errors(self, errors: Sequence[ExecutionError]) -> None:
        if not errors:
            return
        with provider_errors("persist_errors"):
            pipe = self._conn.client.pipeline(transaction=True)
            for error in errors:
                pipe.rpush(self._k_errors + error.workflow_id, error.model_dump_json())
            pipe.execute()

    def get_errors(self, workflow_id: str) -> list[ExecutionError]:
        with provider_errors("get_errors"):
            raws = self._conn.client.lrange(self._k_errors + workflow_id, 0, -1)
        return [ExecutionError.model_validate_json(raw) for raw in raws]

    def close(self) -> None:
        self._conn.close()
