"""MongoDB persistence: instances, subscriptions, events and errors in four collections.

Every document's ``_id`` is the model's id. ``persist_workflow`` is an atomic compare-and-set on the
instance's ``revision`` (one ``replace_one`` filtered on id and revision), so two hosts that read the
same instance cannot both write it. Driver failures are raised as :class:`ProviderError` with the
pymongo error chained; values BSON cannot hold are raised as :class:`SerializationError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from bson.errors import InvalidDocument
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import PyMongoError
from pymongo.results import UpdateResult

from liteflow.core.changes import changed_pointers, mark_stored
from liteflow.core.errors import ConcurrencyError, ProviderError, SerializationError, WorkflowNotFoundError
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
from liteflow.core.visibility import WorkflowQuery, check_page

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

#: The indexes the queries below use, per collection (created idempotently at construction).
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


def _utc(value: datetime) -> datetime:
    aware = as_utc(value)
    assert aware is not None
    return aware


class MongoPersistenceProvider(MongoSchedules, MongoWaitLists):
    """Persistence on MongoDB (pymongo).

    ``url_or_client`` is a MongoDB URL (a client is created with ``tz_aware=True`` and any
    ``client_options``, and closed by :meth:`close`) or an existing client (left open by :meth:`close`).
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
            self._client: MongoClient[dict[str, Any]] = MongoClient(
                url_or_client, **{"tz_aware": True, **client_options}
            )
            self._owns_client = True
        else:
            if client_options:
                raise TypeError(f"client options {sorted(client_options)} apply only when a URL is given")
            self._client = url_or_client
            self._owns_client = False
        #: mongomock (the in-process stand-in tests and samples use) is not thread-safe, and a host calls
        #: its provider from many threads: calls on a mongomock client are serialised.
        mock = type(self._client).__module__.startswith("mongomock")
        self._serial: AbstractContextManager[Any] = _MONGOMOCK_LOCK if mock else nullcontext()
        self._db = db = self._client[database]
        self._workflows: Collection[dict[str, Any]] = db["workflows"]
        self._subscriptions: Collection[dict[str, Any]] = db["subscriptions"]
        self._events: Collection[dict[str, Any]] = db["events"]
        self._errors: Collection[dict[str, Any]] = db["errors"]
        try:
            self._create_indexes()
        except ProviderError:
            self.close()
            raise
        log.debug("mongo.ready", database=database)

    def _create_indexes(self) -> None:
        with self._serial, _driver("index creation"):
            for name, indexes in INDEXES.items():
                collection = self._db[name]
                for keys in indexes:
                    collection.create_index([(key, ASCENDING) for key in keys])

    # -- instances -------------------------------------------------------------------------------------
    def create_workflow(self, instance: WorkflowInstance) -> str:
        doc = instance_document(instance, revision=1)
        with self._serial:
            _store("create_workflow", doc, lambda: self._workflows.insert_one(doc))
        instance.revision = 1
        return instance.id

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
    ) -> None:
        """A compare-and-set on ``revision``; sends the instance's own fields and only the pointers that
        changed since it was loaded or last stored (the whole document when that is all of them)."""
        revision = instance.revision + 1
        written = changed_pointers(instance)
        query = {"_id": instance.id, "revision": instance.revision}
        write: Callable[[], UpdateResult]
        if len(written) == len(instance.execution_pointers):
            doc = instance_document(instance, revision=revision)
            write = partial(self._workflows.replace_one, query, doc)
        else:
            doc = instance_changes(instance, revision, written)
            write = partial(self._workflows.update_one, query, {"$set": doc})
        for subscription in subscriptions:
            self._save_subscription(subscription)
        with self._serial:
            result = _store("persist_workflow", doc, write)
        if result.matched_count == 0:
            with self._serial, _driver("persist_workflow"):
                exists = self._workflows.count_documents({"_id": instance.id}, limit=1) > 0
            if not exists:
                raise WorkflowNotFoundError(instance.id)
            log.debug("mongo.revision_conflict", workflow_id=instance.id, revision=instance.revision)
            raise ConcurrencyError(instance.id, instance.revision)
        instance.revision = revision
        mark_stored(instance, written)
        if ended_subscriptions:
            with self._serial, _driver("persist_workflow"):
                self._subscriptions.delete_many({"_id": {"$in": list(ended_subscriptions)}})

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
            doc = self._workflows.find_one({"_id": workflow_id}, {"revision": 1})
        return None if doc is None else int(doc["revision"])

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
        cutoff = _utc(older_than)
        query = {
            "status": WorkflowStatus(status).value,
            "$or": [
                {"complete_time": {"$lt": cutoff}},
                {"complete_time": None, "create_time": {"$lt": cutoff}},
            ],
        }
        with self._serial, _driver("purge_workflows"):
            deleted = self._workflows.delete_many(query).deleted_count
        log.debug("mongo.purged", status=WorkflowStatus(status).value, count=deleted)
        return deleted

    def list_workflows(
        self,
        status: WorkflowStatus | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        skip: int = 0,
        take: int = 100,
    ) -> list[WorkflowInstance]:
        check_page(skip, take)
        if take == 0:
            return []
        query = _visibility_filter(WorkflowQuery.of(status, definition_id, reference, created_from, created_to))
        with self._serial, _driver("list_workflows"):
            cursor = self._workflows.find(query).sort(_NEWEST_FIRST).skip(skip).limit(take)
            docs = list(cursor)
        return [load_workflow(doc) for doc in docs]

    def count_workflows(
        self,
        status: WorkflowStatus | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> int:
        query = _visibility_filter(WorkflowQuery.of(status, definition_id, reference, created_from, created_to))
        with self._serial, _driver("count_workflows"):
            return int(self._workflows.count_documents(query))

    # -- subscriptions ---------------------------------------------------------------------------------
    def _save_subscription(self, subscription: EventSubscription) -> None:
        doc = model_document(subscription)
        with self._serial, _driver("save subscription"):
            self._subscriptions.replace_one({"_id": subscription.id}, doc, upsert=True)

    def create_event_subscription(self, subscription: EventSubscription) -> str:
        self._save_subscription(subscription)
        return subscription.id

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        query = {"event_name": event_name, "event_key": event_key, "subscribe_as_of": {"$lte": _utc(as_of)}}
        with self._serial, _driver("get_subscriptions"):
            docs = list(self._subscriptions.find(query).sort("subscribe_as_of", ASCENDING))
        return [load_model(EventSubscription, doc) for doc in docs]

    def terminate_subscription(self, subscription_id: str) -> None:
        with self._serial, _driver("terminate_subscription"):
            self._subscriptions.delete_one({"_id": subscription_id})

    # -- events ----------------------------------------------------------------------------------------
    def create_event(self, event: Event) -> str:
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

    def purge_events(self, older_than: datetime) -> int:
        query = {"is_processed": True, "event_time": {"$lt": _utc(older_than)}}
        with self._serial, _driver("purge_events"):
            return int(self._events.delete_many(query).deleted_count)

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
