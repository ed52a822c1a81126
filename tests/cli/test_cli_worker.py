"""The ``liteflow`` command as a user runs it: a ``liteflow worker cli_app:host`` process on the real Redis,
and every other verb as a process of its own against it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from clirun import HERE, LITEFLOW, Worker, eventually, fails, liteflow, ok, ran, show

pytestmark = [pytest.mark.redis, pytest.mark.slow]


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
