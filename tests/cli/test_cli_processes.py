"""``liteflow worker cli_app:host --processes N``: one supervisor, N worker processes on the real Redis."""

from __future__ import annotations

import os
import re
import signal

import pytest
from clirun import Worker, eventually, liteflow, ok, ran, show

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def children(supervisor: Worker) -> dict[int, int]:
    """slot -> pid of the latest child the supervisor started in it."""
    found: dict[int, int] = {}
    for line in supervisor.lines:
        if "supervisor.child_started" in line:
            pid = re.search(r"pid=(\d+)", line)
            slot = re.search(r"slot=(\d+)", line)
            assert pid and slot, line
            found[int(slot.group(1))] = int(pid.group(1))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reparented to init and not reaped yet: a zombie is gone too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def ready_count(supervisor: Worker) -> int:
    return sum("worker.ready" in line for line in supervisor.lines)


@pytest.mark.timeout(300)
def test_a_killed_child_is_restarted_and_nothing_is_lost(env: dict[str, str]) -> None:
    env = {**env, "LITEFLOW_TEST_LEASE": "4"}  # what the killed child held is taken over after 4 s
    supervisor = Worker(env, "--processes", "2", "--concurrency", "3")
    try:
        eventually(lambda: ready_count(supervisor) == 2)
        first = children(supervisor)
        assert sorted(first) == [0, 1] and len(set(first.values())) == 2
        assert all(alive(pid) for pid in first.values())

        ids = [ok(liteflow(env, "start", "Slow", "--data", '{"seconds": 0.3}')).strip() for _ in range(12)]
        eventually(lambda: len(ran(env)) >= 4)  # steps are running in both children now
        os.kill(first[0], signal.SIGKILL)
        line = supervisor.wait_for_line("supervisor.child_exited")
        assert "SIGKILL" in line and f"pid={first[0]}" in line and "slot=0" in line
        eventually(lambda: children(supervisor)[0] != first[0] and ready_count(supervisor) == 3)
        assert children(supervisor)[1] == first[1] and alive(children(supervisor)[0])

        eventually(lambda: all(show(env, i)["status"] == "COMPLETE" for i in ids), timeout=120)
        records = ran(env)
        expected = {f"{i}:nap{n}" for i in ids for n in range(3)}
        assert set(records) == expected  # every step ran
        # at most the steps the killed child was running when it died ran twice
        assert len(records) - len(expected) <= 3, sorted(records)
    finally:
        code = supervisor.stop(signal.SIGTERM)
    assert code == 0, supervisor.lines
    assert sum("worker.stopped" in line for line in supervisor.lines) == 2
    assert any("supervisor.stopped" in line and "exit_codes='0,0'" in line for line in supervisor.lines)
    assert not any(alive(pid) for pid in children(supervisor).values())


def test_sigterm_stops_every_child_gracefully(env: dict[str, str]) -> None:
    ids = [ok(liteflow(env, "start", "Slow", "--data", '{"seconds": 0.5}')).strip() for _ in range(8)]
    supervisor = Worker(env, "--processes", "2", "--concurrency", "2")
    try:
        eventually(lambda: ready_count(supervisor) == 2)
        eventually(lambda: len(ran(env)) >= 3)
    finally:
        code = supervisor.stop(signal.SIGTERM)
    assert code == 0, supervisor.lines
    pids = children(supervisor)
    assert sum("worker.stopping" in line and "SIGTERM" in line for line in supervisor.lines) == 2
    assert not any(alive(pid) for pid in pids.values())
    at_stop = ran(env)
    assert len(at_stop) < 24, "everything finished before the signal: the test proves nothing"
    assert len(set(at_stop)) == len(at_stop)  # in-flight steps finished; none cut short and run again

    single = Worker(env, "--processes", "1")  # today's single process: no supervisor
    try:
        single.wait_for_line("worker.ready")
        eventually(lambda: all(show(env, i)["status"] == "COMPLETE" for i in ids), timeout=90)
    finally:
        assert single.stop(signal.SIGINT) == 0, single.lines
    assert not any("supervisor" in line for line in single.lines)
    assert sorted(ran(env)) == sorted(f"{i}:nap{n}" for i in ids for n in range(3))


def test_children_stop_by_themselves_when_the_supervisor_dies(env: dict[str, str]) -> None:
    supervisor = Worker(env, "--processes", "2")
    eventually(lambda: ready_count(supervisor) == 2)
    pids = children(supervisor)
    supervisor.process.kill()
    supervisor.process.wait(30)
    eventually(lambda: not any(alive(pid) for pid in pids.values()), timeout=60)
