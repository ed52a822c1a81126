"""V: ``list_workflows(status=..., take=100)`` latency as the number of stored instances grows.

The store is filled directly through the persistence provider (no steps run) with instances of two
definitions, each with 5 finished pointers, spread over the statuses as a long-lived service holds them:
80% COMPLETE, 15% TERMINATED, 4% SUSPENDED, 1% RUNNABLE. At each size the same queries are timed:
a page of 100 COMPLETE instances (the largest status), a page of RUNNABLE ones (the smallest), a
status and definition combined, and ``count_workflows(status=COMPLETE)``. The target: the fastest of
the repeats at each larger size is within 2x of the smallest size's (it must not grow with the total;
the minimum, because the median on a shared machine moves with its load; for a page query, only when
the smallest size already fills a page of 100). Most of a page's time is loading its 100 instances.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from benchmarks.harness import Rig
from benchmarks.measure import ms, now, percentile
from benchmarks.report import TIMEOUT, Row, Target
from liteflow.core import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus

_SPREAD = ((WorkflowStatus.COMPLETE, 80), (WorkflowStatus.TERMINATED, 15), (WorkflowStatus.SUSPENDED, 4))
_BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _status(i: int) -> WorkflowStatus:
    slot = i % 100
    for status, share in _SPREAD:
        if slot < share:
            return status
        slot -= share
    return WorkflowStatus.RUNNABLE


def _instance(i: int) -> WorkflowInstance:
    created = _BASE + timedelta(seconds=i)
    status = _status(i)
    ended = status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
    pointers = [
        ExecutionPointer(
            step_id=step,
            step_name=f"step{step}",
            status=PointerStatus.COMPLETE,
            active=False,
            start_time=created,
            end_time=created,
        )
        for step in range(5)
    ]
    return WorkflowInstance(
        workflow_definition_id="V-a" if i % 2 else "V-b",
        version=1,
        reference=f"ref-{i}",
        status=status,
        create_time=created,
        complete_time=created + timedelta(seconds=1) if ended else None,
        next_execution=None,
        data={"i": i},
        execution_pointers=pointers,
    )


QUERIES = {
    "COMPLETE page": lambda p: p.list_workflows(status=WorkflowStatus.COMPLETE, take=100),
    "RUNNABLE page": lambda p: p.list_workflows(status=WorkflowStatus.RUNNABLE, take=100),
    "COMPLETE+definition page": lambda p: p.list_workflows(
        status=WorkflowStatus.COMPLETE, definition_id="V-a", take=100
    ),
    "count COMPLETE": lambda p: p.count_workflows(status=WorkflowStatus.COMPLETE),
}


def run_v(rig: Rig, sizes: tuple[int, ...], repeats: int, timeout: float) -> list[Row]:
    """One row per size (filled cumulatively in one store); min, median and p99 per query, in ms."""
    persistence = rig.host.persistence
    deadline = now() + timeout
    rows: list[Row] = []
    stored = 0
    minimums: dict[str, list[float | None]] = {name: [] for name in QUERIES}
    for size in sizes:
        row = Row("V", rig.config, f"N={size:,}")
        rows.append(row)
        fill_started = time.perf_counter()
        while stored < size and now() < deadline:
            persistence.create_workflow(_instance(stored))
            stored += 1
        if stored < size:
            row.status = TIMEOUT
            row.note = f"filled {stored:,} of {size:,} in {timeout:.0f}s"
            break
        row.note = f"filled in {time.perf_counter() - fill_started:.1f}s"
        for name, query in QUERIES.items():
            query(persistence)  # warm: scripts loaded, connections open
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                found = query(persistence)
                times.append(time.perf_counter() - t)
            if isinstance(found, list) and name.endswith("page"):
                assert len(found) == min(100, _expected(name, size)), (name, len(found))
            fastest = ms(min(times))
            minimums[name].append(fastest)
            target = None
            # a page query's target holds only when the smallest size already filled a whole page
            full_page = not name.endswith("page") or _expected(name, sizes[0]) >= 100
            if len(minimums[name]) > 1 and minimums[name][0] and full_page:
                target = Target("<=", 2 * float(minimums[name][0]), f"2x N={sizes[0]:,}")
            row.add(f"{name} min", fastest, "ms", target)
            row.add(f"{name} p50", ms(percentile(times, 50)), "ms")
            row.add(f"{name} p99", ms(percentile(times, 99)), "ms")
    return rows


def _expected(name: str, size: int) -> int:
    """How many instances a page query matches in a store of ``size``."""
    wanted = WorkflowStatus.RUNNABLE if name.startswith("RUNNABLE") else WorkflowStatus.COMPLETE
    return sum(1 for i in range(size) if _status(i) is wanted and ("definition" not in name or i % 2 == 1))
