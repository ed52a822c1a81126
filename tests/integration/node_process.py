"""What every worker script here (``*_node.py``) does once it has made its host: start it, print the
``ready`` line the tests wait for, run until SIGTERM, then stop.

The scripts run as ``python tests/integration/<name>_node.py``, which puts this folder first on
``sys.path``; under pytest the folder is on it too (the tests import definitions from the scripts).
"""

from __future__ import annotations

import signal
import sys
import threading

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
