"""The ``liteflow`` command as a user runs it: a ``liteflow worker cli_app:host`` process on the real Redis,
and every other verb as a process of its own against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

HERE = Path(__file__).parent
LITEFLOW = Path(sys.executable).parent / "liteflow"


class Worker:
    """A ``liteflow worker`` process; its stderr is collected by a thread (so it never blocks)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [str(LITEFLOW), "worker", "cli_app:host", "--progress-interval", "0.5", *args],
            cwd=HERE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if text in line]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no {text!r} from the worker; it said: {self.lines}")
                self._changed.wait(remaining)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@pytest.fixture
def env(redis_url: str, redis_cleanup: str) -> dict[str, str]:
    values = dict(os.environ)
    values.update({"LITEFLOW_TEST_URL": redis_url, "LITEFLOW_TEST_PREFIX": redis_cleanup})
    for name in ("LITEFLOW_APP", "LITEFLOW_PERSISTENCE", "LITEFLOW_PREFIX", "LITEFLOW_QUEUE", "LITEFLOW_LOCK"):
        values.pop(name, None)
    return values


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[Worker]:
    started = Worker(env)
    try:
        started.wait_for_line("worker.ready")
        yield started
    finally:
        code = started.stop()
    assert code == 0, started.lines


def liteflow(env: dict[str, str], *args: str, app: bool = True) -> subprocess.CompletedProcess[str]:
    command = [str(LITEFLOW), *(["--app", "cli_app:host"] if app else []), *args]
    return subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one stderr line of an expected failure (no traceback)."""
    assert result.returncode == code, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.1)


def show(env: dict[str, str], workflow_id: str) -> dict[str, Any]:
    return json.loads(ok(liteflow(env, "show", workflow_id, "--json")))


def ran(env: dict[str, str]) -> list[str]:
    import redis

    client = redis.Redis.from_url(env["LITEFLOW_TEST_URL"])
    try:
        return [item.decode() for item in client.lrange(env["LITEFLOW_TEST_PREFIX"] + "ran", 0, -1)]
    finally:
        client.close()


def test_every_verb_against_a_running_worker(env: dict[str, str], worker: Worker) -> None:
    greet = [
        ok(liteflow(env, "start", "Greet", "--data", json.dumps({"key": f"k{i}"}), "--reference", f"order-{i}")).strip()
        for i in range(3)
    ]
    failing = ok(liteflow(env, "start", "Fails")).strip()
    eventually(lambda: show(env, failing)["status"] == "SUSPENDED")
    eventually(lambda: all(show(env, g)["pointers"][-1]["status"] == "WAITING_FOR_EVENT" for g in greet))

    # list --json, with filters, newest first; the client here knows only the URL (env vars)
    by_url = {**env, "LITEFLOW_PERSISTENCE": env["LITEFLOW_TEST_URL"], "LITEFLOW_PREFIX": env["LITEFLOW_TEST_PREFIX"]}
    everything = json.loads(ok(liteflow(by_url, "list", "--json", app=False)))
    assert [row["id"] for row in everything] == [failing, *greet[::-1]]
    row = everything[1]
    assert set(row) >= {"id", "definition_id", "version", "status", "reference", "create_time", "complete_time"}
    assert (row["definition_id"], row["version"], row["status"], row["reference"]) == (
        "Greet",
        1,
        "RUNNABLE",
        "order-2",
    )
    assert row["complete_time"] is None
    suspended = json.loads(ok(liteflow(by_url, "list", "--status", "SUSPENDED", "--json", app=False)))
    assert [r["id"] for r in suspended] == [failing]
    one = json.loads(ok(liteflow(env, "list", "--definition", "Greet", "--reference", "order-1", "--json")))
    assert [r["id"] for r in one] == [greet[1]]
    assert len(json.loads(ok(liteflow(env, "list", "--definition", "Greet", "--limit", "2", "--json")))) == 2
    assert "order-0" in ok(liteflow(env, "list"))  # the table for people

    # show --json: pointers with step names, the error with its message
    detail = show(env, failing)
    assert detail["status"] == "SUSPENDED" and detail["data"] is None
    assert [(p["step_name"], p["status"]) for p in detail["pointers"]] == [("hello", "COMPLETE"), ("broken", "FAILED")]
    assert {"id", "step_id", "start_time", "end_time", "retry_count"} <= set(detail["pointers"][0])
    assert detail["errors"] and detail["errors"][0]["message"] == "KeyError: 'x'"
    assert {"details", "error_time"} <= set(detail["errors"][0])
    text = ok(liteflow(env, "show", failing))
    assert "broken" in text and "KeyError: 'x'" in text

    # publish: the waiting workflow goes on and completes on the worker
    event_id = ok(liteflow(env, "publish", "go", "k0", "--data", '"yes"')).strip()
    assert len(event_id) == 36
    done = eventually(lambda: (d := show(env, greet[0]))["status"] == "COMPLETE" and d)
    assert done["data"] == {"key": "k0", "got": "yes"}
    assert [p["step_name"] for p in done["pointers"]] == ["hello", "wait for go", "goodbye"]
    assert done["complete_time"] is not None

    # suspend / resume / terminate, and what does not apply
    ok(liteflow(env, "suspend", greet[1]))
    assert show(env, greet[1])["status"] == "SUSPENDED"
    assert "RUNNABLE" not in fails(liteflow(env, "suspend", greet[1])) and "SUSPENDED" in fails(
        liteflow(env, "suspend", greet[1])
    )
    ok(liteflow(env, "resume", greet[1]))
    assert show(env, greet[1])["status"] == "RUNNABLE"
    ok(liteflow(env, "terminate", greet[2]))
    assert show(env, greet[2])["status"] == "TERMINATED"
    assert "COMPLETE" in fails(liteflow(env, "terminate", greet[0]))
    assert "not found" in fails(liteflow(env, "show", "no-such-id"))
    assert "not found" in fails(liteflow(env, "terminate", "no-such-id"))

    # stats, graph
    stats = json.loads(ok(liteflow(env, "stats", "--json")))
    assert stats["instances"] == {"RUNNABLE": 1, "SUSPENDED": 1, "COMPLETE": 1, "TERMINATED": 1, "total": 4}
    assert set(stats["queues"]) == {"workflow", "event"} and all(isinstance(n, int) for n in stats["queues"].values())
    assert "#2 goodbye" in ok(liteflow(env, "graph", "Greet"))
    assert ok(liteflow(env, "graph", "Greet", "--format", "mermaid")).startswith("flowchart TD")
    assert "s0 -> s1" in ok(liteflow(env, "graph", "Greet", "--format", "dot"))
    assert "not registered" in fails(liteflow(env, "graph", "Nope"))

    # purge: how many; they are gone
    assert ok(liteflow(by_url, "purge", "--status", "TERMINATED", "--older-than", "30m", app=False)).strip() == "0"
    assert ok(liteflow(by_url, "purge", "--status", "terminated", "--older-than", "0s", app=False)).strip() == "1"
    assert "not found" in fails(liteflow(env, "show", greet[2]))
    assert [r["id"] for r in json.loads(ok(liteflow(env, "list", "--json")))] == [failing, greet[1], greet[0]]


def test_sigterm_stops_the_worker_gracefully_and_loses_nothing(env: dict[str, str]) -> None:
    # queued before any worker runs (a client with the app's definitions only stores and queues them)
    ids = [ok(liteflow(env, "start", "Slow", "--data", '{"seconds": 0.5}')).strip() for _ in range(8)]
    first = Worker(env, "--concurrency", "4")
    try:
        first.wait_for_line("worker.ready")
        eventually(lambda: len(ran(env)) >= 2)  # steps are running now
    finally:
        code = first.stop(signal.SIGTERM)
    assert code == 0, first.lines
    assert any("worker.stopped" in line for line in first.lines)
    at_stop = ran(env)
    assert len(at_stop) < 24, "everything finished before the signal: the test proves nothing"
    assert len(set(at_stop)) == len(at_stop)  # in-flight steps finished once, none was cut short and rerun

    second = Worker(env)
    try:
        second.wait_for_line("worker.ready")
        eventually(lambda: all(show(env, i)["status"] == "COMPLETE" for i in ids), timeout=90)
    finally:
        assert second.stop(signal.SIGINT) == 0, second.lines
    records = ran(env)
    expected = {f"{i}:nap{n}" for i in ids for n in range(3)}
    assert sorted(records) == sorted(expected)  # every step ran, exactly once
    progress = [line for line in second.lines if "worker.progress" in line]
    assert progress and "steps_per_s=" in progress[0] and "running=" in progress[0]


def test_an_unreachable_store_is_one_line_and_a_non_zero_exit(env: dict[str, str]) -> None:
    away = {**env, "LITEFLOW_TEST_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [str(LITEFLOW), "worker", "cli_app:host"], cwd=HERE, env=away, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not answer" in lines[0], result.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "liteflow", "--persistence", "redis://127.0.0.1:1/0", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 1 and len(listed.stderr.strip().splitlines()) == 1, listed.stderr
