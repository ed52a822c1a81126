"""The benchmark suite still runs: ``python -m benchmarks --quick --providers memory`` exits 0 and its
JSON names every workload. No timing is asserted (figures depend on the machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ("W", "L", "E", "F", "H", "RSS", "V")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_benchmarks_run_and_report_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--providers", "memory", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    results = json.loads(out.read_text())
    for workload in WORKLOADS:
        rows = results["workloads"].get(workload)
        assert rows, f"no {workload} results in {out}"
        assert all(row["status"] != "error" for row in rows), rows
        assert all(row["metrics"] for row in rows if row["status"] == "ok"), rows
    assert results["meta"]["quick"] is True
    assert "Workload" in done.stdout  # the table was printed


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_the_processes_benchmark_runs_each_count(redis_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.processes", "--processes", "1,2", "--instances", "30", "--rounds", "1"],
        cwd=ROOT,
        env={**os.environ, "LITEFLOW_TEST_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "CPUs" in lines[0]
    assert [line.split()[1] for line in lines[1:]] == ["1", "2"]
    assert all("steps/s" in line for line in lines[1:]), result.stdout


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("workload", ["W", "E"])
def test_the_profiler_runs_each_workload(tmp_path: Path, workload: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    args = ["--providers", "memory", "--instances", "20", "--workload", workload, "--workers", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile", *args, "--out-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    unit = "events" if workload == "E" else "instances"
    assert f"20 of 20 {unit}" in done.stdout, done.stdout
    report = tmp_path / ("profile-memory-events.txt" if workload == "E" else "profile-memory.txt")
    assert "top functions by self time" in report.read_text()
