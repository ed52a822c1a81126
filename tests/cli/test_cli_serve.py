"""``liteflow dashboard`` and ``liteflow worker --metrics-port`` as users run them: processes on the real Redis,
asked over HTTP."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from clirun import LITEFLOW, Worker, eventually, liteflow, ok, show

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CHAIN_STEPS = 5  # cli_app.CHAIN_STEPS (that module needs its environment to import)


def free_port(span: int = 1) -> int:
    """A port P such that P .. P+span-1 are free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + span > 65535:
            continue
        try:
            for offset in range(1, span):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise AssertionError("no free ports")


def get(url: str, token: str | None = None, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def status_no_redirect(url: str) -> tuple[int, str]:
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def dashboard(env: dict[str, str], port: int, *args: str) -> Worker:
    """``liteflow --persistence URL --prefix P dashboard --port PORT ...``, answering HTTP."""
    command = [
        str(LITEFLOW),
        "--persistence",
        env["LITEFLOW_TEST_URL"],
        "--prefix",
        env["LITEFLOW_TEST_PREFIX"],
        "dashboard",
        "--port",
        str(port),
        *args,
    ]
    served = Worker(env, command=command)
    served.wait_for_line("dashboard.serving")
    deadline = time.monotonic() + 60
    while True:  # uvicorn binds a moment after the line: ask until it answers
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return served
        except OSError:
            if time.monotonic() > deadline or served.process.poll() is not None:
                served.stop()
                raise AssertionError(f"the dashboard does not answer on {port}: {served.lines}") from None
            time.sleep(0.1)


def test_the_dashboard_command_serves_the_store_read_only_then_with_a_token(env: dict[str, str]) -> None:
    workflow_id = ok(liteflow(env, "start", "Greet", "--data", '{"key": "k"}', "--reference", "order-7")).strip()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = dashboard(env, port)
    try:
        code, body = get(f"{base}/api/workflows")
        assert code == 200, body
        rows = json.loads(body)
        assert [(r["id"], r["definition_id"], r["status"], r["reference"]) for r in rows] == [
            (workflow_id, "Greet", "RUNNABLE", "order-7")
        ]
        code, page = get(f"{base}/")
        assert code == 200 and workflow_id in page and "order-7" in page
        code, body = get(f"{base}/api/workflows/{workflow_id}")
        assert code == 200 and json.loads(body)["id"] == workflow_id
        # read-only without a token: an action is refused and changes nothing
        code, body = get(f"{base}/api/workflows/{workflow_id}/terminate", method="POST")
        assert code == 403, body
    finally:
        assert served.stop(signal.SIGTERM) == 0, served.lines
    assert "Traceback" not in "\n".join(served.lines)
    assert show(env, workflow_id)["status"] == "RUNNABLE"

    # a token from the environment: nothing without it, everything with it (actions too)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = dashboard({**env, "LITEFLOW_DASHBOARD_TOKEN": "s3cret"}, port)
    try:
        assert get(f"{base}/api/workflows")[0] == 401
        assert get(f"{base}/api/workflows", token="wrong")[0] == 401
        code, location = status_no_redirect(f"{base}/")
        assert code == 303 and location.startswith("/login"), (code, location)
        code, body = get(f"{base}/api/workflows", token="s3cret")
        assert code == 200 and [r["id"] for r in json.loads(body)] == [workflow_id]
        code, page = get(f"{base}/", token="s3cret")
        assert code == 200 and workflow_id in page
        code, body = get(f"{base}/api/workflows/{workflow_id}/terminate", token="s3cret", method="POST")
        assert code == 200, body
    finally:
        assert served.stop(signal.SIGINT) == 0, served.lines
    assert show(env, workflow_id)["status"] == "TERMINATED"


def test_the_token_option_and_allow_actions(env: dict[str, str]) -> None:
    workflow_id = ok(liteflow(env, "start", "Greet", "--data", '{"key": "k"}')).strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = dashboard(env, port, "--allow-actions")
    try:
        code, body = get(f"{base}/api/workflows/{workflow_id}/suspend", method="POST")
        assert code == 200, body
    finally:
        assert served.stop() == 0, served.lines
    assert show(env, workflow_id)["status"] == "SUSPENDED"
    port = free_port()
    served = dashboard(env, port, "--token", "t0ken")
    try:
        assert get(f"http://127.0.0.1:{port}/api/workflows")[0] == 401
        assert get(f"http://127.0.0.1:{port}/api/workflows", token="t0ken")[0] == 200
    finally:
        assert served.stop() == 0, served.lines


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    code, text = get(f"http://127.0.0.1:{port}/metrics")
    assert code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def totals(ports: list[int]) -> tuple[float, float]:
    """(Chain steps completed, Chain workflows finished COMPLETE) added up over the worker processes."""
    steps = finished = 0.0
    for port in ports:
        page = scrape(port)
        for (name, labels), value in page.items():
            found = dict(labels)
            if found.get("definition") != "Chain":
                continue
            if name == "liteflow_steps_total" and found["result"] == "completed":
                steps += value
            elif name == "liteflow_workflows_finished_total" and found["status"] == "COMPLETE":
                finished += value
    return steps, finished


def test_worker_metrics_count_exactly_the_steps_and_workflows_run(env: dict[str, str]) -> None:
    pytest.importorskip("prometheus_client")
    port = free_port(span=2)
    ports = [port, port + 1]  # two worker processes: child i serves port + i
    started = Worker(env, "--processes", "2", "--metrics-port", str(port))
    try:
        eventually(lambda: sum("worker.ready" in line for line in started.lines) == 2)
        ok(liteflow(env, "start", "Chain"))  # warm up, so the counters are not all zero before
        eventually(lambda: totals(ports) == (CHAIN_STEPS, 1))
        before = totals(ports)
        n = 12
        ids = [ok(liteflow(env, "start", "Chain")).strip() for _ in range(n)]
        eventually(lambda: all(show(env, i)["status"] == "COMPLETE" for i in ids), timeout=90)
        # the last pass is stored before its counters move: read until the finished count is in
        eventually(lambda: totals(ports)[1] >= before[1] + n)
        after = totals(ports)
    finally:
        assert started.stop() == 0, started.lines
    assert after[0] - before[0] == n * CHAIN_STEPS
    assert after[1] - before[1] == n
