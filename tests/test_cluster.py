"""docker-compose.yml is a file a user can run unchanged (checked as YAML: Docker is not needed), and what
it runs works: `liteflow worker app:cluster_host` in samples/cluster logs that it is ready, runs what
samples/cluster/seed.py starts, stops on SIGTERM, and exits clearly when a store does not answer."""

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
WORKERS = sorted(name for name in SERVICES if name not in STORES and name != "seed")
CLUSTER = ROOT / "samples" / "cluster"


def test_the_compose_file_has_the_stores_three_workers_and_a_seed() -> None:
    assert set(STORES) <= set(SERVICES) and len(WORKERS) == 3 and "seed" in SERVICES
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
    assert command[:3] == ["liteflow", "worker", "app:cluster_host"]  # the library's own worker command
    assert service["working_dir"] == "/app/samples/cluster" and (CLUSTER / "app.py").is_file()
    environment = service["environment"]
    assert environment["LITEFLOW_REDIS_URL"].startswith("redis://redis:")
    assert environment["LITEFLOW_MONGO_URL"].startswith("mongodb://mongo:")
    assert environment["LITEFLOW_NODE"] == name


def test_a_one_shot_seed_starts_the_sample_workflows_once_the_stores_answer() -> None:
    seed = SERVICES["seed"]
    assert seed["depends_on"] == {store: {"condition": "service_healthy"} for store in STORES}
    assert seed["restart"] == "on-failure"  # runs once; again only if it failed
    assert seed["image"] == SERVICES[WORKERS[0]]["image"]
    script = next(part for part in seed["command"] if part.endswith(".py"))
    assert (ROOT / script).is_file() and int(seed["command"][-1]) > 0


def test_the_dockerfile_installs_liteflow_with_its_drivers_at_build_time() -> None:
    instructions = [line.split(None, 1) for line in DOCKERFILE.splitlines() if line and not line.startswith("#")]
    keywords = [parts[0] for parts in instructions if parts[0].isupper()]
    assert keywords[0] == "FROM" and "USER" in keywords
    assert re.search(r"^RUN pip install \"\.\[all\]\"$", DOCKERFILE, re.MULTILINE)
    copied = {parts[1].split()[0] for parts in instructions if parts[0] == "COPY"}
    assert {"liteflow", "providers", "samples"} <= copied
    for source in copied:
        assert (ROOT / source).exists(), source


# -- what it runs ---------------------------------------------------------------------------------------
def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "liteflow", "worker", "app:cluster_host", "--processes", "1"],
        cwd=CLUSTER,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(stream: Any) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _wait_for(log: queue.Queue[str], pattern: str, seen: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = log.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if re.search(pattern, line):
            return
    raise AssertionError(f"no line matching {pattern!r} in:\n" + "".join(seen))


@pytest.mark.redis
def test_the_worker_runs_what_the_seed_starts_and_stops_on_sigterm(
    redis_url: str, redis_cleanup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"LITEFLOW_REDIS_URL": redis_url, "LITEFLOW_PREFIX": redis_cleanup, "LITEFLOW_NODE": "node1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LITEFLOW_MONGO_URL", raising=False)
    monkeypatch.syspath_prepend(str(CLUSTER))
    proc = _worker(env)
    try:
        assert proc.stderr is not None
        log, seen = _lines(proc.stderr), []
        _wait_for(log, r"worker\.ready", seen)
        seed = subprocess.run(
            [sys.executable, str(CLUSTER / "seed.py"), "3"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert seed.returncode == 0 and "started 3 ParcelWorkflow instances" in seed.stdout, seed.stderr
        from app import cluster_host

        client = cluster_host()
        ids = [w.id for w in client.list_workflows(definition_id="ParcelWorkflow")]
        assert len(ids) == 3
        for workflow_id in ids:
            data = client.wait_for_workflow(workflow_id, timeout=60).data
            assert data["delivered_by"] == "node1" and data["shipped_by"] == ["node1"] * 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        _wait_for(log, r"worker\.stopped", seen, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_worker_exits_clearly_when_a_store_does_not_answer() -> None:
    proc = _worker({"LITEFLOW_REDIS_URL": "redis://127.0.0.1:1/0"})
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert err.strip().startswith("liteflow: the store") and "does not answer" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
