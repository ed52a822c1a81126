"""Worker node processes for the integration tests, both sides of their protocol: a node prints ``ready``
once its host has started and stops on SIGTERM.

The node side: the ``*_node.py`` scripts make their host and call :func:`serve_until_sigterm`. They run as
``python tests/integration/<name>_node.py``, which puts this folder first on ``sys.path``; under pytest the
folder is on it too (the tests import definitions from the scripts, and :func:`launch`, :func:`ready` and
:func:`stop_nodes` from here).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from liteflow.core import WorkflowHost


def serve_until_sigterm(host: WorkflowHost, *, close: bool = False) -> None:
    """Start ``host``, write ``ready`` to stdout, wait for SIGTERM, then ``host.stop()`` (``close``:
    ``host.close()``, which also stops listening to the lifecycle hub)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    host.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stop.wait()
    if close:
        host.close()
    else:
        host.stop()


def launch(script: Path, *args: str, env: Mapping[str, str], stderr: IO[Any] | None = None) -> subprocess.Popen[str]:
    """Run ``python script args...`` with ``env``, its stdout a pipe to read the ``ready`` line from."""
    return subprocess.Popen(
        [sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    )


def ready(proc: subprocess.Popen[str], name: str = "the worker") -> subprocess.Popen[str]:
    """Wait for ``proc``'s ``ready`` line (the test fails, naming ``name``, if it ends without one)."""
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", f"{name} did not start"
    return proc


def stop_nodes(procs: Iterable[subprocess.Popen[str]], timeout: float = 15.0) -> None:
    """SIGTERM every node still running, then wait for each; one not gone within ``timeout`` s is killed."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
