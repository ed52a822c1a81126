"""The four workloads on DBOS with PostgreSQL (database ``liteflow_peers`` on 127.0.0.1:5432), in
this process as DBOS runs: workflows of steps, and events as ``DBOS.send`` to a workflow in ``recv``."""

from __future__ import annotations

import threading
import time

import psycopg
from dbos import DBOS, DBOSConfig, WorkflowStatusString

from benchmarks.peers import common

DATABASE = "liteflow_peers"
URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
_marks: dict[str, float] = {}
_marked = threading.Condition()


@DBOS.step()
def noop(n: int, j: int) -> None:
    return None


@DBOS.step()
def mark(key: str) -> None:
    with _marked:
        _marks[key] = time.perf_counter()
        _marked.notify_all()


@DBOS.workflow()
def chain_workflow(n: int) -> None:
    for j in range(common.CHAIN_STEPS):
        noop(n, j)


@DBOS.workflow()
def waiter_workflow(key: str) -> None:
    noop(0, 0)
    DBOS.recv("go", timeout_seconds=common.DEADLINE)
    mark(key)


def _chains(count: int) -> float:
    began = time.perf_counter()
    handles = [DBOS.start_workflow(chain_workflow, i) for i in range(count)]
    for handle in handles:
        handle.get_result()
    return time.perf_counter() - began


def _events(spacing: float) -> float:
    keys = [f"k{i}-{time.monotonic_ns()}" for i in range(common.WAITERS)]
    handles = {key: DBOS.start_workflow(waiter_workflow, key) for key in keys}
    # A waiter is in recv once its first step is recorded and it has not finished; give recv itself a
    # moment on top (DBOS has no call that says a workflow is blocked in recv).
    common.wait_until(
        lambda: all(len(DBOS.list_workflow_steps(h.get_workflow_id())) >= 1 for h in handles.values()),
        "the waiters to park",
    )
    time.sleep(0.5)
    published: dict[str, float] = {}
    for key in keys:
        published[key] = time.perf_counter()
        DBOS.send(handles[key].get_workflow_id(), "event", "go")
        if spacing:
            time.sleep(spacing)
    with _marked:
        if not _marked.wait_for(lambda: all(key in _marks for key in published), timeout=common.DEADLINE):
            raise TimeoutError("events were not all handled")
    for handle in handles.values():
        assert handle.get_status().status in (WorkflowStatusString.SUCCESS.value, WorkflowStatusString.PENDING.value)
    return common.p50([(_marks[key] - at) * 1000 for key, at in published.items()])


def _fresh_database() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def main() -> None:
    _fresh_database()
    config: DBOSConfig = {"name": "liteflow-peers", "system_database_url": URL}
    DBOS(config=config)
    DBOS.launch()
    try:
        results = common.measure(_chains, _events)
    finally:
        DBOS.destroy()
    common.emit("dbos", results)


if __name__ == "__main__":
    main()
