"""MongoPersistenceProvider specifics: indexes, URL vs client, document shape, driver errors.

The behaviour every persistence provider shares is in tests/contract. These run on mongomock, or on a
real server when LITEFLOW_TEST_MONGO_URL is set (the ``mongo_client`` fixture decides).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import mongomock
import pytest
from pymongo.errors import AutoReconnect, PyMongoError

import liteflow.providers.mongo.persistence as mongo_persistence
from liteflow.core.errors import ProviderError, SerializationError
from liteflow.core.interfaces import PersistenceProvider
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    WorkflowInstance,
    WorkflowStatus,
)
from liteflow.providers.mongo import MongoPersistenceProvider
from liteflow.providers.mongo.documents import unstorable_path

NOW = datetime(2024, 5, 17, 9, 30, 15, 123000, tzinfo=timezone.utc)

EXPECTED_INDEXES = {
    "workflows": [
        [("status", 1), ("next_execution", 1)],
        [("status", 1), ("complete_time", 1)],
        [("create_time", 1), ("_id", 1)],
        [("status", 1), ("create_time", 1), ("_id", 1)],
        [("workflow_definition_id", 1), ("create_time", 1), ("_id", 1)],
        [("workflow_definition_id", 1), ("status", 1), ("create_time", 1), ("_id", 1)],
        [("reference", 1), ("create_time", 1), ("_id", 1)],
    ],
    "subscriptions": [[("event_name", 1), ("event_key", 1), ("subscribe_as_of", 1)]],
    "events": [
        [("event_name", 1), ("event_key", 1), ("event_time", 1)],
        [("is_processed", 1), ("event_time", 1)],
    ],
    "errors": [[("workflow_id", 1)]],
}


def workflow(**fields: Any) -> WorkflowInstance:
    return WorkflowInstance(workflow_definition_id="Unit", version=1, create_time=NOW, **fields)


@pytest.fixture
def provider(mongo_client: Any, mongo_database: str) -> MongoPersistenceProvider:
    return MongoPersistenceProvider(mongo_client, database=mongo_database)


def index_keys(client: Any, database: str, collection: str) -> list[list[tuple[str, int]]]:
    info = client[database][collection].index_information()
    return [[(k, int(d)) for k, d in spec["key"]] for name, spec in info.items() if name != "_id_"]


# -- indexes -------------------------------------------------------------------------------------------
def test_indexes_are_created(provider: MongoPersistenceProvider, mongo_client: Any, mongo_database: str) -> None:
    for collection, expected in EXPECTED_INDEXES.items():
        assert sorted(index_keys(mongo_client, mongo_database, collection)) == sorted(expected), collection


def test_index_creation_is_idempotent(mongo_client: Any, mongo_database: str) -> None:
    MongoPersistenceProvider(mongo_client, database=mongo_database)
    MongoPersistenceProvider(mongo_client, database=mongo_database)
    for collection, expected in EXPECTED_INDEXES.items():
        assert len(index_keys(mongo_client, mongo_database, collection)) == len(expected)


def test_implements_the_protocol(provider: MongoPersistenceProvider) -> None:
    assert isinstance(provider, PersistenceProvider)
    assert provider.stores_json is True


# -- URL vs client -------------------------------------------------------------------------------------
class SpyClient(mongomock.MongoClient):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_url_creates_a_tz_aware_client_and_close_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, dict[str, Any]]] = []
    client = SpyClient(tz_aware=True)

    def fake_client(url: str, **options: Any) -> SpyClient:
        made.append((url, options))
        return client

    monkeypatch.setattr(mongo_persistence, "MongoClient", fake_client)
    provider = MongoPersistenceProvider("mongodb://db.example:27017", database="lf_url", connectTimeoutMS=500)

    assert made == [("mongodb://db.example:27017", {"tz_aware": True, "connectTimeoutMS": 500})]
    assert sorted(index_keys(client, "lf_url", "workflows")) == sorted(EXPECTED_INDEXES["workflows"])
    provider.close()
    assert client.closed is True


def test_a_client_passed_in_is_left_open() -> None:
    client = SpyClient(tz_aware=True)
    provider = MongoPersistenceProvider(client, database="lf_client")
    provider.close()
    assert client.closed is False


def test_client_options_without_a_url_are_refused() -> None:
    with pytest.raises(TypeError, match="serverSelectionTimeoutMS"):
        MongoPersistenceProvider(SpyClient(), serverSelectionTimeoutMS=10)


def test_unreachable_server_raises_provider_error() -> None:
    with pytest.raises(ProviderError) as info:
        MongoPersistenceProvider("mongodb://127.0.0.1:9/", serverSelectionTimeoutMS=200, connectTimeoutMS=200)
    assert isinstance(info.value.__cause__, PyMongoError)


# -- documents -----------------------------------------------------------------------------------------
def test_stored_document_shape(provider: MongoPersistenceProvider, mongo_client: Any, mongo_database: str) -> None:
    wf = workflow(data={"a": [1, 2]}, execution_pointers=[ExecutionPointer(step_id=0, start_time=NOW)])
    provider.create_workflow(wf)

    doc = mongo_client[mongo_database]["workflows"].find_one({"_id": wf.id})

    assert doc["id"] == wf.id and doc["revision"] == 1
    assert doc["status"] == "Runnable" and type(doc["status"]) is str
    assert doc["execution_pointers"][0]["status"] == "Pending"
    assert type(doc["execution_pointers"][0]["status"]) is str
    assert isinstance(doc["create_time"], datetime) and doc["data"] == {"a": [1, 2]}


def test_times_are_aware_utc_even_from_a_naive_client(mongo_database: str) -> None:
    provider = MongoPersistenceProvider(mongomock.MongoClient(), database=mongo_database)
    wf = workflow()
    provider.create_workflow(wf)
    loaded = provider.get_workflow_instance(wf.id)
    assert loaded.create_time == NOW and loaded.create_time.utcoffset() == timedelta(0)


def test_ints_beyond_64_bits_raise_serialization_error_naming_the_path(
    provider: MongoPersistenceProvider,
) -> None:
    wf = workflow(data={"counts": [1, 2**70]})
    with pytest.raises(SerializationError, match=r"data\.counts\[1\]"):
        provider.create_workflow(wf)


def test_unstorable_path() -> None:
    assert unstorable_path({"a": {"b": [1, True, -(2**64)]}}) == "a.b[2]"
    assert unstorable_path({"a": 2**63 - 1, "b": "x" * 10}) is None


# -- driver errors -------------------------------------------------------------------------------------
class Switch:
    failing = False


class FlakyCollection:
    """Forwards to a real collection, or raises AutoReconnect while the switch is on."""

    def __init__(self, real: Any, switch: Switch) -> None:
        self._real, self._switch = real, switch

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._switch.failing:
                raise AutoReconnect("connection lost")
            return attr(*args, **kwargs)

        return call


class FlakyClient:
    def __init__(self, real: Any, switch: Switch) -> None:
        self._real, self._switch = real, switch

    def __getitem__(self, database: str) -> Any:
        real_db, switch = self._real[database], self._switch

        class Database:
            def __getitem__(self, collection: str) -> FlakyCollection:
                return FlakyCollection(real_db[collection], switch)

        return Database()

    def close(self) -> None:
        pass


def _subscription() -> EventSubscription:
    return EventSubscription(
        workflow_id="w",
        step_id=0,
        execution_pointer_id="p",
        event_name="n",
        event_key="k",
        subscribe_as_of=NOW,
    )


CALLS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "create_workflow": lambda: (workflow(),),
    "persist_workflow": lambda: (workflow(revision=1),),
    "get_workflow_instance": lambda: ("w",),
    "get_workflow_instances": lambda: (["w"],),
    "get_runnable_instances": lambda: (NOW,),
    "purge_workflows": lambda: (WorkflowStatus.COMPLETE, NOW),
    "create_event_subscription": lambda: (_subscription(),),
    "get_subscriptions": lambda: ("n", "k", NOW),
    "terminate_subscription": lambda: ("s",),
    "create_event": lambda: (Event(event_name="n", event_key="k"),),
    "get_event": lambda: ("e",),
    "get_events": lambda: ("n", "k", NOW, NOW),
    "get_runnable_events": lambda: (NOW,),
    "purge_events": lambda: (NOW,),
    "mark_event_processed": lambda: ("e",),
    "mark_event_unprocessed": lambda: ("e",),
    "persist_errors": lambda: ([ExecutionError(workflow_id="w", execution_pointer_id="p", message="m")],),
    "get_errors": lambda: ("w",),
    "list_workflows": lambda: (WorkflowStatus.COMPLETE, "d", "r", NOW, NOW),
    "count_workflows": lambda: (WorkflowStatus.COMPLETE, "d", "r", NOW, NOW),
}


def test_every_protocol_method_is_covered_below() -> None:
    methods = {
        name
        for name in vars(PersistenceProvider)
        if not name.startswith("_") and callable(getattr(PersistenceProvider, name))
    }
    assert methods - {"close"} == set(CALLS)


@pytest.mark.parametrize("method", sorted(CALLS))
def test_driver_errors_are_raised_as_provider_errors(method: str, mongo_client: Any, mongo_database: str) -> None:
    switch = Switch()
    provider = MongoPersistenceProvider(FlakyClient(mongo_client, switch), database=mongo_database)
    switch.failing = True

    with pytest.raises(ProviderError) as info:
        getattr(provider, method)(*CALLS[method]())

    assert isinstance(info.value.__cause__, AutoReconnect)
    assert "connection lost" in str(info.value)


def test_index_creation_failure_is_a_provider_error(mongo_client: Any, mongo_database: str) -> None:
    switch = Switch()
    switch.failing = True
    with pytest.raises(ProviderError) as info:
        MongoPersistenceProvider(FlakyClient(mongo_client, switch), database=mongo_database)
    assert isinstance(info.value.__cause__, AutoReconnect)
