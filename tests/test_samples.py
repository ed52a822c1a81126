"""Every ``samples/*.py`` runs by itself, exits 0 within the timeout and prints what it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.py"))
TIMEOUT = 60

#: Lines a sample must print (samples not listed here must exit 0 and print something).
EXPECTED: dict[str, list[str]] = {
    "01_hello_world.py": ["Hello world", "Goodbye", "workflow MyWorkflow finished: Complete"],
    "02_data.py": ["2 + 3 = 5", "value3 = 5 (Complete)"],
    "03_events.py": ["publishing event1/key1", "captured_value = 'hello' (Complete)"],
    "04_foreach.py": ["doing stuff...abc", "doing stuff...def", "doing stuff...xyz", "workflow finished: Complete"],
    "05_if.py": ["doing stuff: value1 > 3", "workflow finished: Complete"],
    "06_while.py": ["doing stuff...0", "doing stuff...2", "value1 = 3 (Complete)"],
    "10_sqlite.py": ["second process, same file:", "workflow finished: Complete, data {'order': 42}"],
}


def test_there_are_samples() -> None:
    names = {path.name for path in SAMPLES}
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("path", SAMPLES, ids=[path.name for path in SAMPLES])
def test_sample_runs(path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    completed = subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    report = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    assert completed.returncode == 0, report
    lines = completed.stdout.splitlines()
    assert lines, f"{path.name} printed nothing\n{report}"
    for expected in EXPECTED.get(path.name, []):
        assert expected in lines, f"{path.name} did not print {expected!r}\n{report}"
    if path.name == "05_if.py":
        assert lines.count("doing stuff: value1 > 3") == 1, report
