"""What the SQLite providers promise beyond the contract suite: one file shared by threads, provider
objects and processes, busy databases ridden through, pointers stored one row each, indexed queries."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from liteflow.core.errors import ProviderError, WorkflowAlreadyExistsError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus
from liteflow.providers.sqlite import (
    SqliteLockProvider,
    SqlitePersistenceProvider,
    SqliteQueueProvider,
    sqlite_path,
)
from liteflow.providers.sqlite import database as database_module

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "liteflow.db"


@pytest.fixture
def persistence(db: Path) -> Any:
    provider = SqlitePersistenceProvider(db)
    yield provider
    provider.close()


def instance(**fields: Any) -> WorkflowInstance:
    values: dict[str, Any] = {"workflow_definition_id": "Unit", "version": 1}
    values.update(fields)
    return WorkflowInstance(**values)


def run_python(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# -- paths and sharing ---------------------------------------------------------------------------------
def test_paths_and_urls() -> None:
    assert sqlite_path("sqlite:///relative/x.db") == "relative/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path(Path("/tmp/y.db")) == "/tmp/y.db"
    for bad in ("sqlite://", ":memory:", "sqlite://host/x.db"):
        with pytest.raises(ValueError):
            sqlite_path(bad)


def test_a_file_that_cannot_be_opened_is_a_provider_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as info:
        SqlitePersistenceProvider(tmp_path / "no-such-directory" / "x.db")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)


def test_the_file_is_in_wal_mode(persistence: Any, db: Path) -> None:
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_providers_on_one_file_share_it_and_the_last_close_lets_go(db: Path) -> None:
    persistence, queue = SqlitePersistenceProvider(f"sqlite:///{db}"), SqliteQueueProvider(db)
    assert persistence._db is queue._db  # one set of connections, one write mutex per process
    wf = instance()
    persistence.create_workflow(wf)
    persistence.close()
    queue.queue_work(wf.id, QueueType.WORKFLOW)  # still open for the queue
    assert queue.dequeue_work(QueueType.WORKFLOW, 1.0) == wf.id
    queue.close()
    again = SqlitePersistenceProvider(db)  # a fresh open of the same file finds what was stored
    assert again.get_workflow_instance(wf.id).id == wf.id
    again.close()


# -- instances -----------------------------------------------------------------------------------------
def test_create_refuses_an_existing_id_and_changes_nothing(persistence: Any) -> None:
    first = instance(reference="first")
    persistence.create_workflow(first)
    second = instance(id=first.id, reference="second")
    with pytest.raises(WorkflowAlreadyExistsError):
        persistence.create_workflow(second)
    assert persistence.get_workflow_instance(first.id).reference == "first"


def test_concurrent_creates_of_one_id_make_exactly_one(persistence: Any) -> None:
    shared = instance().id
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def create(n: int) -> None:
        barrier.wait()
        try:
            persistence.create_workflow(instance(id=shared, reference=str(n)))
            outcomes.append("made")
        except WorkflowAlreadyExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["made"] + ["refused"] * 5


def test_a_persist_writes_only_the_pointers_that_changed(persistence: Any, db: Path) -> None:
    done = [ExecutionPointer(step_id=i, status=PointerStatus.COMPLETE, active=False, end_time=T0) for i in range(200)]
    wf = instance(execution_pointers=[*done, ExecutionPointer(step_id=200)])
    persistence.create_workflow(wf)
    raw = sqlite3.connect(db)
    marker = done[5].model_copy(update={"outcome": "left alone"}).model_dump_json().encode()
    raw.execute("UPDATE pointers SET doc = ? WHERE workflow_id = ? AND position = 5", (marker, wf.id))
    raw.commit()
    statements: list[str] = []
    persistence._db.retrying("trace", lambda c: c.set_trace_callback(statements.append))

    wf.execution_pointers[-1].status = PointerStatus.COMPLETE
    wf.execution_pointers[-1].end_time = T0
    wf.execution_pointers.append(ExecutionPointer(step_id=201))
    persistence.persist_workflow(wf)

    stored = persistence.get_workflow_instance(wf.id)
    assert stored.execution_pointers[5].outcome == "left alone"  # an ended pointer is not written again
    assert [p.step_id for p in stored.execution_pointers] == list(range(202))
    assert stored.execution_pointers[200].status is PointerStatus.COMPLETE
    pointer_writes = [s for s in statements if s.startswith("INSERT INTO pointers")]
    assert len(pointer_writes) == 2  # the open one that ended, and the new one
    raw.close()


def test_a_long_history_costs_a_persist_no_more_than_a_short_one(persistence: Any) -> None:
    def persist_time(history: int) -> float:
        wf = instance(
            execution_pointers=[
                *(ExecutionPointer(step_id=i, status=PointerStatus.COMPLETE, end_time=T0) for i in range(history)),
                ExecutionPointer(step_id=history),
            ]
        )
        persistence.create_workflow(wf)
        started = time.perf_counter()
        for _ in range(50):
            wf.execution_pointers[-1].retry_count += 1
            persistence.persist_workflow(wf)
        return time.perf_counter() - started

    short, long = persist_time(1), persist_time(3000)
    assert long < short * 4, f"50 persists: {short * 1000:.0f} ms with 1 pointer, {long * 1000:.0f} ms with 3,000"


# -- busy databases ------------------------------------------------------------------------------------
def test_a_write_lock_held_past_busy_timeout_is_waited_out_not_raised(
    persistence: Any, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 20)
    fresh = SqlitePersistenceProvider(db)  # the same Database: its connections are made per thread
    wf = instance()
    blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another "process" holds the write lock for 0.5 s
    threading.Timer(0.5, lambda: blocker.execute("COMMIT")).start()
    errors: list[BaseException] = []

    def create() -> None:
        try:
            fresh.create_workflow(wf)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=create)  # a new thread: a new connection, with the 20 ms busy_timeout
    started = time.monotonic()
    worker.start()
    worker.join(10)
    assert not errors and time.monotonic() - started >= 0.4
    assert fresh.get_revision(wf.id) == 1
    fresh.close()
    blocker.close()


def test_a_database_busy_past_the_limit_is_a_provider_error(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 10)
    persistence = SqlitePersistenceProvider(db)
    persistence._db.busy_limit = 0.3
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(outcome, persistence.create_workflow, instance()))
    thread.start()
    thread.join(10)
    blocker.execute("ROLLBACK")
    assert len(outcome) == 1 and isinstance(outcome[0], ProviderError)
    assert isinstance(outcome[0].__cause__, sqlite3.OperationalError)
    assert "stayed busy" in str(outcome[0])
    persistence.close()
    blocker.close()


def _capture(into: list[BaseException], call: Any, *args: Any) -> None:
    try:
        call(*args)
    except BaseException as exc:
        into.append(exc)


# -- visibility ----------------------------------------------------------------------------------------
def test_list_and_count_filter_newest_first_and_page(persistence: Any) -> None:
    made = []
    for n in range(12):
        wf = instance(
            workflow_definition_id="A" if n % 2 else "B",
            reference=f"r{n % 3}",
            status=WorkflowStatus.COMPLETE if n % 4 == 0 else WorkflowStatus.RUNNABLE,
            create_time=T0 + timedelta(minutes=n),
        )
        persistence.create_workflow(wf)
        made.append(wf)
    newest_first = [wf.id for wf in reversed(made)]
    assert [wf.id for wf in persistence.list_workflows()] == newest_first
    assert [wf.id for wf in persistence.list_workflows(skip=2, take=3)] == newest_first[2:5]
    assert persistence.count_workflows() == 12
    complete = [wf.id for wf in reversed(made) if wf.status is WorkflowStatus.COMPLETE]
    for status in (WorkflowStatus.COMPLETE, "Complete", "COMPLETE"):
        assert [wf.id for wf in persistence.list_workflows(status=status)] == complete
        assert persistence.count_workflows(status=status) == 3
    both = [wf.id for wf in reversed(made) if wf.workflow_definition_id == "A" and wf.reference == "r1"]
    assert [wf.id for wf in persistence.list_workflows(definition_id="A", reference="r1")] == both
    window = persistence.list_workflows(created_from=T0 + timedelta(minutes=3), created_to=T0 + timedelta(minutes=6))
    assert [wf.id for wf in window] == [made[5].id, made[4].id, made[3].id]
    assert (
        persistence.count_workflows(created_from=T0 + timedelta(minutes=3), created_to=T0 + timedelta(minutes=6)) == 3
    )
    with pytest.raises(ValueError):
        persistence.count_workflows(status="Nope")


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "Complete"},
        {"definition_id": "A"},
        {"reference": "r"},
        {"created_from": T0},
        {},
    ],
)
def test_queries_read_an_index(persistence: Any, filters: dict[str, Any]) -> None:
    from liteflow.core.visibility import WorkflowQuery
    from liteflow.providers.sqlite.persistence import _filters

    where, parameters = _filters(WorkflowQuery.of(**filters))
    sql = f"SELECT id FROM instances{where} ORDER BY create_time DESC, id DESC LIMIT 100"
    plan = persistence._db.query("plan", f"EXPLAIN QUERY PLAN {sql}", parameters)
    text = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX" in text or "USING COVERING INDEX" in text, text
    runnable = persistence._db.query(
        "plan", "EXPLAIN QUERY PLAN SELECT id FROM instances WHERE next_execution <= ? ORDER BY next_execution", (1,)
    )
    assert "instances_runnable" in " ".join(str(row[-1]) for row in runnable)


# -- queue ---------------------------------------------------------------------------------------------
WAITER = """
import sys, time
from liteflow.providers.sqlite import SqliteQueueProvider, doorbell
if sys.argv[2] == "polling":
    doorbell.available = lambda: False  # as where there are no UNIX sockets
queue = SqliteQueueProvider(sys.argv[1])
print("waiting", flush=True)
item = queue.dequeue_work("workflow", 20.0)
print(item, repr(time.time()), flush=True)
"""


@pytest.mark.parametrize("mode", ["doorbell", "polling"])
def test_a_worker_in_another_process_wakes_within_milliseconds(db: Path, mode: str) -> None:
    queue = SqliteQueueProvider(db)
    proc = subprocess.Popen([sys.executable, "-c", WAITER, str(db), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    time.sleep(0.3)  # blocked in dequeue_work by now (a polling watcher at its slowest)
    sent = time.time()
    queue.queue_work("across", QueueType.WORKFLOW)
    item, woke = proc.stdout.readline().split()
    proc.wait(10)
    queue.close()
    assert item == "across"
    assert float(woke) - sent < 0.5  # a few ms on an idle machine; loose for a loaded one


def test_doorbells_of_dead_processes_are_cleared_by_the_next_ring(db: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WAITER, str(db), "doorbell"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    queue = SqliteQueueProvider(db)
    deadline = time.monotonic() + 10
    while not queue._db.query("test", "SELECT name FROM doorbells"):  # up once it calls dequeue_work
        assert time.monotonic() < deadline, "the waiting process never put its doorbell up"
        time.sleep(0.01)
    assert len(queue._db.query("test", "SELECT name FROM doorbells")) == 1
    proc.kill()
    proc.wait(10)
    queue.queue_work("nobody-waits", QueueType.WORKFLOW)  # rings the dead doorbell: refused, deleted
    assert queue._db.query("test", "SELECT name FROM doorbells") == []
    assert queue.dequeue_work(QueueType.WORKFLOW, 1.0) == "nobody-waits"
    queue.close()


def test_a_closed_queue_takes_its_doorbell_out_of_the_file(db: Path) -> None:
    queue = SqliteQueueProvider(db)
    assert queue.dequeue_work(QueueType.WORKFLOW, 0.01) is None  # a worker waited: the doorbell is up
    raw = sqlite3.connect(db)
    assert len(raw.execute("SELECT name FROM doorbells").fetchall()) == 1
    queue.close()
    assert raw.execute("SELECT name FROM doorbells").fetchall() == []
    raw.close()


def test_interrupt_wakes_a_blocked_dequeue(db: Path) -> None:
    queue = SqliteQueueProvider(db)
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(queue.dequeue_work(QueueType.EVENT, 20.0)))
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    queue.interrupt()
    thread.join(5)
    assert got == [None] and time.monotonic() - started < 2.0
    queue.close()


# -- locks ---------------------------------------------------------------------------------------------
HOLDER = """
import sys, time
from liteflow.providers.sqlite import SqliteLockProvider
lock = SqliteLockProvider(sys.argv[1], lease=1.0)
assert lock.acquire_lock("wf-1")
print("held", flush=True)
time.sleep(60)
"""


def test_the_lock_of_a_killed_process_frees_itself_after_the_lease(db: Path) -> None:
    lock = SqliteLockProvider(db, lease=1.0)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    time.sleep(1.5)  # renewed meanwhile: still held
    assert lock.acquire_lock("wf-1") is False
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 5.0
    while not lock.acquire_lock("wf-1"):
        assert time.monotonic() < deadline, "the dead process's lock never lapsed"
        time.sleep(0.05)
    lock.close()


def test_each_acquisition_has_its_own_token(db: Path) -> None:
    lock = SqliteLockProvider(db)
    first = lock.acquire_lock_token("r")
    assert first is not None
    stored = lock._db.query("t", "SELECT token FROM locks WHERE resource = 'r'")
    assert stored == [(first,)]
    lock.release_lock("r", first)
    assert lock._db.query("t", "SELECT token FROM locks") == []
    second = lock.acquire_lock_token("r")
    assert second is not None and second != first
    lock.release_lock("r", first)  # the first acquisition's release leaves the second's lock alone
    assert lock._db.query("t", "SELECT token FROM locks") == [(second,)]
    lock.close()
