"""SQLite under the newer provider contracts: what the shared contract suite cannot see from outside.

A file made before control requests, schedules and wait lines is brought up to date on open; the wait
lines and schedule claims read indexes; a batch queued at once wakes as many workers of another process.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from liteflow.core import configure_workflow_host
from liteflow.core.errors import ControlRequested
from liteflow.core.interfaces import HealthCheck, QueueType
from liteflow.core.models import EventSubscription, WorkflowInstance, WorkflowStatus
from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider
from liteflow.providers.sqlite.schema import SCHEMA_VERSION

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)

#: The tables of a version-1 file, as that version made them (before control requests and schedules).
_VERSION_1 = (
    """CREATE TABLE instances (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, status TEXT NOT NULL,
        definition_id TEXT NOT NULL, reference TEXT, create_time INTEGER NOT NULL, end_time INTEGER NOT NULL,
        next_execution INTEGER, pointer_count INTEGER NOT NULL, doc BLOB NOT NULL)""",
    """CREATE TABLE pointers (workflow_id TEXT NOT NULL, position INTEGER NOT NULL, doc BLOB NOT NULL,
        PRIMARY KEY (workflow_id, position)) WITHOUT ROWID""",
    """CREATE TABLE subscriptions (id TEXT PRIMARY KEY, event_name TEXT NOT NULL, event_key TEXT NOT NULL,
        as_of INTEGER NOT NULL, doc BLOB NOT NULL)""",
    """CREATE TABLE events (id TEXT PRIMARY KEY, event_name TEXT NOT NULL, event_key TEXT NOT NULL,
        event_time INTEGER NOT NULL, processed INTEGER NOT NULL, doc BLOB NOT NULL)""",
    "CREATE TABLE errors (seq INTEGER PRIMARY KEY, workflow_id TEXT NOT NULL, doc BLOB NOT NULL)",
    """CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, item_id TEXT NOT NULL,
        UNIQUE (kind, item_id))""",
    "CREATE TABLE doorbells (name TEXT PRIMARY KEY, pid INTEGER NOT NULL)",
    "CREATE TABLE locks (resource TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL)",
    "PRAGMA user_version = 1",
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "liteflow.db"


def _plan(provider: Any, sql: str, parameters: tuple[Any, ...]) -> str:
    rows = provider._db.query("plan", f"EXPLAIN QUERY PLAN {sql}", parameters)
    return " ".join(str(row[-1]) for row in rows)


def test_a_version_1_file_is_upgraded_on_open_and_keeps_what_it_held(db: Path) -> None:
    old = SqlitePersistenceProvider(db)
    wf = WorkflowInstance(workflow_definition_id="Old", version=1, create_time=T0)
    old.create_workflow(wf)
    old.close()
    # the same instance in a file laid out as version 1 made it, with a subscription of that version
    raw = sqlite3.connect(db)
    row = raw.execute(
        "SELECT id, revision, status, definition_id, reference, create_time, end_time, next_execution,"
        " pointer_count, doc FROM instances"
    ).fetchone()
    raw.close()
    db.unlink()
    raw = sqlite3.connect(db)
    for statement in _VERSION_1:
        raw.execute(statement)
    raw.execute("INSERT INTO instances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    subscription = EventSubscription(
        workflow_id=wf.id, step_id=0, execution_pointer_id="p", event_name="go", event_key="1", subscribe_as_of=T0
    )
    raw.execute(
        "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?)",
        (subscription.id, "go", "1", 0, subscription.model_dump_json()),
    )
    raw.commit()
    raw.close()

    persistence = SqlitePersistenceProvider(db)
    assert persistence._db.query("v", "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    loaded = persistence.get_workflow_instance(wf.id)
    assert loaded.workflow_definition_id == "Old" and loaded.revision == 1
    assert persistence.request_control(wf.id, None, "suspend")
    with pytest.raises(ControlRequested):
        persistence.persist_workflow(loaded)
    persistence.persist_workflow(loaded, control_applied="suspend")
    assert persistence.get_workflow_instance(wf.id).revision == 2
    # the old subscription learnt its workflow: purging the instance drops it
    loaded.status = WorkflowStatus.COMPLETE
    loaded.complete_time = T0
    persistence.persist_workflow(loaded)
    assert persistence.purge_workflows(WorkflowStatus.COMPLETE, T0 + timedelta(days=1)) == 1
    assert persistence.get_subscriptions("go", "1", T0 + timedelta(days=1)) == []
    persistence.close()


def test_wait_lines_and_schedule_claims_read_an_index(db: Path) -> None:
    persistence = SqlitePersistenceProvider(db)
    oldest = _plan(
        persistence, "SELECT workflow_id, score FROM waiters WHERE key = ? ORDER BY score, workflow_id LIMIT 1", ("k",)
    )
    assert "waiters_by_score" in oldest and "TEMP B-TREE" not in oldest, oldest
    claim = _plan(persistence, "UPDATE schedules SET next_run_ms = ? WHERE id = ? AND next_run_ms = ?", (2, "s", 1))
    assert "USING INDEX" in claim or "PRIMARY KEY" in claim, claim
    persistence.close()


def test_a_sqlite_url_gives_providers_that_answer_the_start_up_check(db: Path) -> None:
    host = configure_workflow_host(persistence=f"sqlite:///{db}")
    providers = (host.persistence, host.queue, host.lock)
    assert [type(p) for p in providers] == [SqlitePersistenceProvider, SqliteQueueProvider, SqliteLockProvider]
    for provider in providers:
        assert isinstance(provider, HealthCheck)
        provider.ping(5.0)
        assert provider.describe() == f"sqlite:///{db}"
        provider.close()


WORKERS = """
import sys, threading, time
from liteflow.providers.sqlite import SqliteQueueProvider
queue = SqliteQueueProvider(sys.argv[1])
got = []
def work():
    got.append((queue.dequeue_work("workflow", 20.0), time.time()))
threads = [threading.Thread(target=work) for _ in range(3)]
for thread in threads:
    thread.start()
print("waiting", flush=True)
for thread in threads:
    thread.join()
for item, woke in sorted(got, key=str):
    print(item, repr(woke), flush=True)
"""


def test_a_batch_wakes_as_many_workers_of_another_process(db: Path) -> None:
    queue = SqliteQueueProvider(db)
    proc = subprocess.Popen([sys.executable, "-c", WORKERS, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    deadline = time.monotonic() + 10
    while not queue._db.query("test", "SELECT name FROM doorbells"):  # its doorbell is up: its workers wait
        assert time.monotonic() < deadline, "the waiting process never put its doorbell up"
        time.sleep(0.01)
    time.sleep(0.3)  # every worker blocked by now
    sent = time.time()
    assert queue.queue_work_many(["a", "b", "c"], QueueType.WORKFLOW) == 3
    lines = [proc.stdout.readline().split() for _ in range(3)]
    proc.wait(30)
    queue.close()
    assert sorted(item for item, _ in lines) == ["a", "b", "c"]
    # each woken by the one ring (3 ids), not left to sleep out its 20 s timeout
    assert max(float(woke) for _, woke in lines) - sent < 5.0
