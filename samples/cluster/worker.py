"""A LiteFlow worker node: runs ParcelWorkflow instances until SIGTERM/SIGINT.

With LITEFLOW_START=N it first starts N workflows (one node of docker-compose.yml does).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import NODE, cluster_host


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    host = cluster_host(poll_interval=0.5)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    host.start()
    for i in range(int(os.environ.get("LITEFLOW_START", "0"))):
        host.start_workflow("ParcelWorkflow", None, {"order": i, "parcels": [f"p{i}-{n}" for n in range(3)]})
    print(f"{NODE}: ready", flush=True)
    stop.wait()
    host.stop()
    print(f"{NODE}: stopped", flush=True)


if __name__ == "__main__":
    main()
