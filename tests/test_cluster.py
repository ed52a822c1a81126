"""docker-compose.yml is a file a user can run unchanged (checked as YAML: Docker is not needed), and the
worker it runs (samples/cluster/worker.py) works: logs its progress, stops on SIGTERM, exits clearly
when a store does not answer."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES: dict[str, Any] = COMPOSE["services"]
STORES = ("redis", "mongo")
WORKERS = sorted(name for name in SERVICES if name not in STORES)


def test_the_compose_file_has_the_stores_and_three_workers() -> None:
    assert set(STORES) <= set(SERVICES) and len(WORKERS) == 3
    assert set(COMPOSE) <= {"services", "volumes", "networks", "x-worker"}  # top-level keys compose knows


@pytest.mark.parametrize("name", STORES)
def test_stores_have_healthchecks_and_publish_no_host_port(name: str) -> None:
    service = SERVICES[name]
    check = service["healthcheck"]
    assert check["test"][0] == "CMD" and len(check["test"]) > 1
    for field in ("interval", "timeout"):
        assert re.fullmatch(r"\d+(ms|s|m)", check[field]), field
    assert isinstance(check["retries"], int) and check["retries"] > 0
    assert "ports" not in service or "profiles" in service  # no clash with a local server by default
    assert service["restart"] in ("always", "unless-stopped", "on-failure")
    for volume in service.get("volumes", []):
        assert volume.split(":")[0] in COMPOSE["volumes"]  # named volumes, declared


@pytest.mark.parametrize("name", WORKERS)
def test_workers_wait_for_healthy_stores_restart_and_share_one_image(name: str) -> None:
    service = SERVICES[name]
    assert service["depends_on"] == {store: {"condition": "service_healthy"} for store in STORES}
    assert service["restart"] in ("always", "unless-stopped", "on-failure")
    assert service["build"] in (".", {"context": "."}) and service["image"] == SERVICES[WORKERS[0]]["image"]
    assert "volumes" not in service  # no bind-mounted checkout: the image holds the installed code
    assert "ports" not in service
    command = service["command"]
    assert "pip" not in " ".join(command)  # nothing installed when a container starts
    script = next(part for part in command if part.endswith(".py"))
    assert (ROOT / script).is_file()
    environment = service["environment"]
    assert environment["LITEFLOW_REDIS_URL"].startswith("redis://redis:")
    assert environment["LITEFLOW_MONGO_URL"].startswith("mongodb://mongo:")
    assert environment["LITEFLOW_NODE"] == name


def test_exactly_one_worker_starts_the_sample_workflows() -> None:
    starting = [name for name in WORKERS if SERVICES[name]["environment"].get("LITEFLOW_START")]
    assert starting == ["node1"] and int(SERVICES["node1"]["environment"]["LITEFLOW_START"]) > 0


def test_the_dockerfile_installs_liteflow_with_its_drivers_at_build_time() -> None:
    instructions = [line.split(None, 1) for line in DOCKERFILE.splitlines() if line and not line.startswith("#")]
    keywords = [parts[0] for parts in instructions if parts[0].isupper()]
    assert keywords[0] == "FROM" and "USER" in keywords
    assert re.search(r"^RUN pip install \"\.\[all\]\"$", DOCKERFILE, re.MULTILINE)
    copied = {parts[1].split()[0] for parts in instructions if parts[0] == "COPY"}
    assert {"liteflow", "providers", "samples"} <= copied
    for source in copied:
        assert (ROOT / source).exists(), source


# -- the worker it runs ---------------------------------------------------------------------------------
def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "samples" / "cluster" / "worker.py")],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(stream: Any) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


@pytest.mark.redis
def test_the_worker_logs_its_progress_at_info_and_stops_on_sigterm(redis_url: str, redis_cleanup: str) -> None:
    proc = _worker({"LITEFLOW_REDIS_URL": redis_url, "LITEFLOW_PREFIX": redis_cleanup, "LITEFLOW_START": "3"})
    try:
        assert proc.stderr is not None
        log = _lines(proc.stderr)
        completed: set[str] = set()
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while len(completed) < 3 and time.monotonic() < deadline:
            try:
                line = log.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            found = re.search(r"cluster INFO \S+: workflow (\S+) completed", line)
            if found:
                completed.add(found.group(1))
        assert len(completed) == 3, "".join(seen)
        assert any(re.search(r"cluster INFO \S+: step \d+ of workflow \S+ done", line) for line in seen)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_worker_exits_clearly_when_a_store_does_not_answer() -> None:
    proc = _worker({"LITEFLOW_REDIS_URL": "redis://127.0.0.1:1/0", "LITEFLOW_START": "1"})
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "cannot start" in err and "redis://127.0.0.1:1/0" in err
