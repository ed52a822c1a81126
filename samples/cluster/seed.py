"""Start N ParcelWorkflow instances for the cluster's workers, then exit (docker-compose.yml's `seed`).

    python samples/cluster/seed.py 30       (or LITEFLOW_START=30)

The workers themselves are `liteflow worker app:cluster_host`, run in this folder.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import cluster_host


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("LITEFLOW_START", "30"))
    client = cluster_host()  # never started: the workers run what it starts
    for i in range(count):
        client.start_workflow("ParcelWorkflow", None, {"order": i, "parcels": [f"p{i}-{n}" for n in range(3)]})
    print(f"started {count} ParcelWorkflow instances", flush=True)


if __name__ == "__main__":
    main()
