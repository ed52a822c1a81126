"""MongoDB persistence: instances, subscriptions, events and errors in four collections.

Every document's ``_id`` is the model's id. ``persist_workflow`` is an atomic compare-and-set on the
instance's ``revision`` (one ``replace_one`` filtered on id, revision and the pending control request),
so two hosts that read the same instance cannot both write it. A pending control request is the
workflow document's ``control`` field, which no instance write sets (``request_control`` does).

The subscriptions a persist saves live in their own collection, so they cannot be written in the same
atomic step as the instance (mongomock has no transactions). They are written so that a failed
compare-and-set changes nothing: new subscriptions are upserted first, each write returning the document
it replaced, and put back (deleted, or the former document restored) if the compare-and-set then fails;
ended subscriptions are deleted only after it succeeded. A subscription is only ever acted on by
whoever holds its instance's lock and finds its pointer waiting in the stored instance, so one visible
for the moment of a failed write is never delivered. Driver failures are raised as :class:`ProviderError` with the
pymongo error chained; values BSON cannot hold are raised as :class:`SerializationError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import pymongo
from bson.errors import InvalidDocument
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.results import UpdateResult

from liteflow.core.changes import changed_pointers, mark_stored
from liteflow.core.errors import (
    ConcurrencyError,
    ControlRequested,
    ProviderError,
    SerializationError,
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
    as_utc,
    to_millis,
)
from liteflow.core.services.urls import redact
from liteflow.core.visibility import WorkflowQuery, WorkflowVisibility

from .documents import (
    event_document,
    instance_changes,
    instance_document,
    load_model,
    load_workflow,
    model_document,
    unstorable_path,
)
from .schedules import MongoSchedules, MongoWaitLists

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from liteflow.core.interfaces import PersistenceProvider

log = logger("mongo")

T = TypeVar("T")

#: The indexes the queries below use, per collection (created idempotently before the first write).
INDEXES: dict[str, list[list[str]]] = {
    "workflows": [
        ["status", "next_execution"],
        ["status", "complete_time"],
        # visibility (list_workflows): newest first, each filter alone and definition with status
        ["create_time", "_id"],
        ["status", "create_time", "_id"],
        ["workflow_definition_id", "create_time", "_id"],
        ["workflow_definition_id", "status", "create_time", "_id"],
        ["reference", "create_time", "_id"],
    ],
    "subscriptions": [["event_name", "event_key", "subscribe_as_of"]],
    "events": [["event_name", "event_key", "event_time"], ["is_processed", "event_time"]],
    "errors": [["workflow_id"]],
    "waiters": [["key", "score"]],
}


@contextmanager
def _driver(action: str) -> Iterator[None]:
    """Raise pymongo errors as ProviderError (chained)."""
    try:
        yield
    except PyMongoError as exc:
        raise ProviderError(f"MongoDB {action} failed: {exc}") from exc


def _store(action: str, doc: Mapping[str, Any], write: Callable[[], T]) -> T:
    """Run ``write`` (which stores ``doc``); a value BSON cannot hold becomes a SerializationError."""
    try:
        with _driver(action):
            return write()
    except (OverflowError, InvalidDocument) as exc:
        path = unstorable_path(doc) or f"document {doc.get('_id')!r}"
        raise SerializationError(f"{path}: cannot be stored in MongoDB: {exc}") from exc


_MONGOMOCK_LOCK = threading.RLock()

#: The order of list_workflows: newest create_time first, then the larger id (stable paging).
_NEWEST_FIRST = [("create_time", DESCENDING), ("_id", DESCENDING)]


def _visibility_filter(query: WorkflowQuery) -> dict[str, Any]:
    """The MongoDB filter of a visibility query (served by the compound indexes in INDEXES)."""
    found: dict[str, Any] = {}
    if query.status is not None:
        found["status"] = query.status.value
    if query.definition_id is not None:
        found["workflow_definition_id"] = query.definition_id
    if query.reference is not None:
        found["reference"] = query.reference
    created: dict[str, datetime] = {}
    if query.created_from is not None:
        created["$gte"] = query.created_from
    if query.created_to is not None:
        created["$lt"] = query.created_to
    if created:
        found["create_time"] = created
    return found


#: Instances deleted per round trip by purge_workflows.
_PURGE_BATCH = 500

#: How long a client made from a URL looks for a server before an operation fails (pymongo's own default
#: is 30 s); a ``serverSelectionTimeoutMS`` in the URL or the client options takes precedence.
SERVER_SELECTION_TIMEOUT = 5.0


def _client_address(client: Any) -> str:
    """The seed addresses of a client passed in (mongomock's has none: it is in-process)."""
    if not isinstance(client, MongoClient):
        return f"{type(client).__module__.split('.')[0]}://"
    addresses = list(client.topology_description.server_descriptions())
    return "mongodb://" + ",".join(f"{host}:{port}" for host, port in addresses)


def _utc(value: datetime) -> datetime:
    aware = as_utc(value)
    assert aware is not None
    return aware


class MongoPersistenceProvider(MongoSchedules, MongoWaitLists, WorkflowVisibility):
    """Persistence on MongoDB (pymongo).

    ``url_or_client`` is a MongoDB URL (a client is created with ``tz_aware=True``, a server-selection
    timeout of :data:`SERVER_SELECTION_TIMEOUT` seconds unless the URL or ``client_options`` give one,
    and any ``client_options``; closed by :meth:`close`) or an existing client (left open by
    :meth:`close`). Nothing is sent to the server until the provider is used: the indexes are created
    before the first write (or by :meth:`ping`, which ``host.start()`` calls).
    """

    stores_json = True
    _driver_errors = staticmethod(_driver)

    def __init__(
        self,
        url_or_client: str | MongoClient[dict[str, Any]],
        database: str = "liteflow",
        **client_options: Any,
    ) -> None:
        if isinstance(url_or_client, str):
            defaults: dict[str, Any] = {"tz_aware": True}
            chosen = {name.lower() for name in client_options}
            if "serverselectiontimeoutms" not in chosen and "serverselectiontimeoutms" not in url_or_client.lower():
                defaults["serverSelectionTimeoutMS"] = round(SERVER_SELECTION_TIMEOUT * 1000)
            self._client: MongoClient[dict[str, Any]] = MongoClient(url_or_client, **{**defaults, **client_options})
            self._owns_client = True
            self._where = f"{redact(url_or_client)} (database {database})"
        else:
            if client_options:
                raise TypeError(f"client options {sorted(client_options)} apply only when a URL is given")
            self._client = url_or_client
            self._owns_client = False
            self._where = f"{_client_address(url_or_client)} (database {database})"
        #: mongomock (the in-process stand-in tests and samples use) is not thread-safe, and a host calls
        #: its provider from many threads: calls on a mongomock client are serialised.
        mock = type(self._client).__module__.startswith("mongomock")
        self._serial: AbstractContextManager[Any] = _MONGOMOCK_LOCK if mock else nullcontext()
        self._db = db = self._client[database]
        self._workflows: Collection[dict[str, Any]] = db["workflows"]
        self._subscriptions: Collection[dict[str, Any]] = db["subscriptions"]
        self._events: Collection[dict[str, Any]] = db["events"]
        self._errors: Collection[dict[str, Any]] = db["errors"]
        self._indexed = False
        self._index_mutex = threading.Lock()

    def _ensure_indexes(self) -> None:
        """Create the indexes once (idempotent on the server); a failure is raised and tried again next time."""
        if self._indexed:
            return
        with self._index_mutex:
            if self._indexed:
                return
            with self._serial, _driver("index creation"):
                for name, indexes in INDEXES.items():
                    collection = self._db[name]
                    for keys in indexes:
                        collection.create_index([(key, ASCENDING) for key in keys])
            self._indexed = True
        log.debug("mongo.ready", where=self._where)

    # -- health ----------------------------------------------------------------------------------------
    def describe(self) -> str:
        return self._where

    def ping(self, timeout: float) -> None:
        """Ask the server to answer within ``timeout`` seconds (server selection included), then make sure
        the indexes exist; ProviderError naming the server if it does not answer."""
        try:
            with pymongo.timeout(timeout), self._serial:
                self._client.admin.command("ping")
        except PyMongoError as exc:
            raise ProviderError(f"MongoDB at {self._where} did not answer: {type(exc).__name__}: {exc}") from exc
        self._ensure_indexes()

    # -- instances -------------------------------------------------------------------------------------
    def create_workflow(self, instance: WorkflowInstance) -> str:
        self._ensure_indexes()
        doc = instance_document(instance, revision=1)
        try:
            with self._serial:
                _store("create_workflow", doc, lambda: self._workflows.insert_one(doc))
        except ProviderError as exc:
            if isinstance(exc.__cause__, DuplicateKeyError):
                raise WorkflowAlreadyExistsError(instance.id) from exc.__cause__
            raise
        instance.revision = 1
        return instance.id

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        """A compare-and-set on ``revision`` (and on the pending control request: none, or the one
        ``control_applied`` names, which the write clears); sends the instance's own fields and only the
        pointers that changed since it was loaded or last stored (the whole document when that is all of
        them). Subscriptions: see the module's docstring."""
        revision = instance.revision + 1
        written = changed_pointers(instance)
        applied = None if control_applied is None else {"$in": [None, control_applied]}
        query: dict[str, Any] = {"_id": instance.id, "revision": instance.revision, "control": applied}
        write: Callable[[], UpdateResult]
        if len(written) == len(instance.execution_pointers):
            doc = instance_document(instance, revision=revision)  # no ``control``: a replace clears it
            write = partial(self._workflows.replace_one, query, doc)
        else:
            doc = instance_changes(instance, revision, written)
            update: dict[str, Any] = {"$set": doc}
            if control_applied is not None:
                update["$unset"] = {"control": ""}
            write = partial(self._workflows.update_one, query, update)
        replaced = self._save_subscriptions(subscriptions)
        try:
            with self._serial:
                result = _store("persist_workflow", doc, write)
            if result.matched_count == 0:
                self._refused(instance, control_applied)
        except BaseException:
            self._restore_subscriptions(replaced)
            raise
        instance.revision = revision
        mark_stored(instance, written)
        if ended_subscriptions:
            with self._serial, _driver("persist_workflow"):
                self._subscriptions.delete_many({"_id": {"$in": list(ended_subscriptions)}})

    def _refused(self, instance: WorkflowInstance, control_applied: str | None) -> None:
        """Raise why a persist matched no document: unknown, a newer revision, or a control request."""
        with self._serial, _driver("persist_workflow"):
            found = self._workflows.find_one({"_id": instance.id}, {"revision": 1, "control": 1})
        if found is None:
            raise WorkflowNotFoundError(instance.id)
        pending = found.get("control")
        if found.get("revision") == instance.revision and pending is not None and pending != control_applied:
            raise ControlRequested(instance.id, instance.revision, pending)
        log.debug("mongo.revision_conflict", workflow_id=instance.id, revision=instance.revision)
        raise ConcurrencyError(instance.id, instance.revision)

    def _save_subscriptions(
        self, subscriptions: Sequence[EventSubscription]
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """Upsert ``subscriptions``; (id, the document each replaced or None) for putting them back."""
        replaced: list[tuple[str, dict[str, Any] | None]] = []
        try:
            for subscription in subscriptions:
                doc = model_document(subscription)
                with self._serial, _driver("save subscription"):
                    before = self._subscriptions.find_one_and_replace(
                        {"_id": subscription.id}, doc, upsert=True, return_document=ReturnDocument.BEFORE
                    )
                replaced.append((subscription.id, before))
        except BaseException:
            self._restore_subscriptions(replaced)
            raise
        return replaced

    def _restore_subscriptions(self, replaced: list[tuple[str, dict[str, Any] | None]]) -> None:
        """Put back what ``_save_subscriptions`` replaced (best effort: a driver failure here is logged; a
        subscription left behind names a pointer its stored instance does not wait with, and is dropped
        when an event finds it)."""
        try:
            with self._serial, _driver("restore subscriptions"):
                for subscription_id, before in reversed(replaced):
                    if before is None:
                        self._subscriptions.delete_one({"_id": subscription_id})
                    else:
                        self._subscriptions.replace_one({"_id": subscription_id}, before)
        except ProviderError as exc:
            log.warning("mongo.restore_subscriptions_failed", error=str(exc))

    def request_control(self, workflow_id: str, expected: str | None, requests: str) -> bool:
        with self._serial, _driver("request_control"):
            query = {"_id": workflow_id, "control": expected}
            result = self._workflows.update_one(query, {"$set": {"control": requests}})
            if result.matched_count:
                return True
            exists = self._workflows.count_documents({"_id": workflow_id}, limit=1) > 0
        if not exists:
            raise WorkflowNotFoundError(workflow_id)
        return False

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        with self._serial, _driver("get_workflow_instance"):
            doc = self._workflows.find_one({"_id": workflow_id})
        if doc is None:
            raise WorkflowNotFoundError(workflow_id)
        return load_workflow(doc)

    def get_revision(self, workflow_id: str) -> int | None:
        """The stored instance's revision (None if there is none): lets a host reuse an instance it still
        holds in memory instead of loading it again."""
        with self._serial, _driver("get_revision"):
            doc = self._workflows.find_one({"_id": workflow_id}, {"revision": 1, "control": 1})
        # a pending control request: None, so the host loads the instance, which carries it
        return None if doc is None or doc.get("control") is not None else int(doc["revision"])

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        with self._serial, _driver("get_workflow_instances"):
            docs = {doc["_id"]: doc for doc in self._workflows.find({"_id": {"$in": list(workflow_ids)}})}
        return [load_workflow(docs[i]) for i in workflow_ids if i in docs]

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        query = {
            "status": WorkflowStatus.RUNNABLE.value,
            "next_execution": {"$ne": None, "$lte": to_millis(_utc(as_at))},
        }
        with self._serial, _driver("get_runnable_instances"):
            return [doc["_id"] for doc in self._workflows.find(query, {"_id": 1})]

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Deletes the instances in ``status`` completed (or created) before ``older_than``, in batches,
        with their subscriptions and errors."""
        cutoff = _utc(older_than)
        query = {
            "status": WorkflowStatus(status).value,
            "$or": [
                {"complete_time": {"$lt": cutoff}},
                {"complete_time": None, "create_time": {"$lt": cutoff}},
            ],
        }
        deleted = 0
        while True:
            with self._serial, _driver("purge_workflows"):
                ids = [doc["_id"] for doc in self._workflows.find(query, {"_id": 1}).limit(_PURGE_BATCH)]
                if not ids:
                    break
                # checked again as it is deleted: an instance persisted meanwhile may no longer match
                deleted += self._workflows.delete_many({"_id": {"$in": ids}, **query}).deleted_count
                kept = {doc["_id"] for doc in self._workflows.find({"_id": {"$in": ids}}, {"_id": 1})}
                gone = [i for i in ids if i not in kept]
                self._subscriptions.delete_many({"workflow_id": {"$in": gone}})
                self._errors.delete_many({"workflow_id": {"$in": gone}})
            if len(ids) < _PURGE_BATCH:
                break
        log.debug("mongo.purged", status=WorkflowStatus(status).value, count=deleted)
        return deleted

    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        if take == 0:
            return []
        with self._serial, _driver("list_workflows"):
            cursor = self._workflows.find(_visibility_filter(query)).sort(_NEWEST_FIRST).skip(skip).limit(take)
            docs = list(cursor)
        return [load_workflow(doc) for doc in docs]

    def count_matching(self, query: WorkflowQuery) -> int:
        with self._serial, _driver("count_workflows"):
            return int(self._workflows.count_documents(_visibility_filter(query)))

    # -- subscriptions ---------------------------------------------------------------------------------
    def create_event_subscription(self, subscription: EventSubscription) -> str:
        self._ensure_indexes()
        doc = model_document(subscription)
        with self._serial, _driver("save subscription"):
            self._subscriptions.replace_one({"_id": subscription.id}, doc, upsert=True)
        return subscription.id

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        query = {"event_name": event_name, "event_key": event_key, "subscribe_as_of": {"$lte": _utc(as_of)}}
        with self._serial, _driver("get_subscriptions"):
            docs = list(self._subscriptions.find(query).sort("subscribe_as_of", ASCENDING))
        return [load_model(EventSubscription, doc) for doc in docs]

    def terminate_subscription(self, subscription_id: str, *, workflow_id: str | None = None) -> None:
        with self._serial, _driver("terminate_subscription"):
            self._subscriptions.delete_one({"_id": subscription_id})

    # -- events ----------------------------------------------------------------------------------------
    def create_event(self, event: Event) -> str:
        self._ensure_indexes()
        doc = event_document(event)
        with self._serial:
            _store("create_event", doc, lambda: self._events.replace_one({"_id": event.id}, doc, upsert=True))
        return event.id

    def get_event(self, event_id: str) -> Event:
        with self._serial, _driver("get_event"):
            doc = self._events.find_one({"_id": event_id})
        if doc is None:
            raise KeyError(event_id)
        return load_model(Event, doc)

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        query = {
            "event_name": event_name,
            "event_key": event_key,
            "event_time": {"$gte": _utc(since), "$lte": _utc(until)},
        }
        with self._serial, _driver("get_events"):
            docs = list(self._events.find(query).sort("event_time", ASCENDING))
        return [load_model(Event, doc) for doc in docs]

    def get_runnable_events(self, as_at: datetime) -> list[str]:
        query = {"is_processed": False, "event_time": {"$lte": _utc(as_at)}}
        with self._serial, _driver("get_runnable_events"):
            return [doc["_id"] for doc in self._events.find(query, {"_id": 1})]

    def purge_events(self, older_than: datetime, limit: int | None = None) -> int:
        query = {"is_processed": True, "event_time": {"$lt": _utc(older_than)}}
        with self._serial, _driver("purge_events"):
            if limit is None:
                return int(self._events.delete_many(query).deleted_count)
            ids = [
                doc["_id"] for doc in self._events.find(query, {"_id": 1}).sort("event_time", ASCENDING).limit(limit)
            ]
            return int(self._events.delete_many({"_id": {"$in": ids}, **query}).deleted_count) if ids else 0

    def mark_event_processed(self, event_id: str) -> None:
        self._set_processed(event_id, True)

    def mark_event_unprocessed(self, event_id: str) -> None:
        self._set_processed(event_id, False)

    def _set_processed(self, event_id: str, processed: bool) -> None:
        with self._serial, _driver("mark event"):
            self._events.update_one({"_id": event_id}, {"$set": {"is_processed": processed}})

    # -- errors ----------------------------------------------------------------------------------------
    def persist_errors(self, errors: Sequence[ExecutionError]) -> None:
        docs = [model_document(error) for error in errors]
        if docs:
            with self._serial, _driver("persist_errors"):
                self._errors.insert_many(docs)

    def get_errors(self, workflow_id: str) -> list[ExecutionError]:
        with self._serial, _driver("get_errors"):
            docs = list(self._errors.find({"workflow_id": workflow_id}).sort("error_time", ASCENDING))
        return [load_model(ExecutionError, doc) for doc in docs]

    def close(self) -> None:
        """Close the client if this provider created it (a client passed in stays open)."""
        if self._owns_client:
            self._client.close()


if TYPE_CHECKING:

    def _conforms(provider: MongoPersistenceProvider) -> PersistenceProvider:
        return provider  # mypy flags any drift from the PersistenceProvider protocol
