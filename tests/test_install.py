"""Installing and trying LiteFlow: a missing driver names its extra; the demo script installs only when needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("missing", "module", "extra"),
    [
        ("redis", "liteflow.providers.redis", "redis"),
        ("redis", "liteflow.providers.redis.persistence", "redis"),
        ("pymongo", "liteflow.providers.mongo", "mongo"),
        ("bson", "liteflow.providers.mongo", "mongo"),
    ],
)
def test_importing_a_provider_without_its_driver_names_the_extra(missing: str, module: str, extra: str) -> None:
    program = textwrap.dedent(
        f"""
        import sys
        sys.modules[{missing!r}] = None  # as if the driver were not installed
        try:
            import {module}
        except ImportError as exc:
            print(exc)
        else:
            print("imported")
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert f"pip install 'liteflow-workflows[{extra}]'" in done.stdout, done.stdout


def _demo_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the demo script beside a pyproject.toml and a stand-in .venv python that logs its calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    calls = tmp_path / "calls.log"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    python.chmod(0o755)
    return tmp_path / "scripts" / "demo.sh", calls


def test_demo_installs_once_and_again_only_after_pyproject_changes(tmp_path: Path) -> None:
    demo, calls = _demo_copy(tmp_path)

    def run() -> list[str]:
        calls.write_text("")
        subprocess.run(["bash", str(demo)], check=True, timeout=60, env={**os.environ, "PATH": os.environ["PATH"]})
        return calls.read_text().splitlines()

    past = time.time() - 100
    os.utime(tmp_path / "pyproject.toml", (past, past))
    first = run()
    assert len(first) == 2 and "pip install" in first[0] and first[1] == "samples/01_hello_world.py"
    assert run() == ["samples/01_hello_world.py"]  # installed already: straight to the sample
    os.utime(tmp_path / "pyproject.toml")  # the project changed since
    third = run()
    assert len(third) == 2 and "pip install" in third[0]
    assert run() == ["samples/01_hello_world.py"]
