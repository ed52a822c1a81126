"""The dashboard as a real server process, for the browser test: a client host (never started) on Redis.

python dashboard_server.py REDIS_URL PREFIX     prints the port it listens on, serves until killed
"""

from __future__ import annotations

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import uvicorn
from dashboard_workflows import WORKFLOWS

from liteflow.core import configure_workflow_host
from liteflow.dashboard import create_app
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider


def main() -> None:
    url, prefix = sys.argv[1:3]
    host = configure_workflow_host(
        persistence=RedisPersistenceProvider(url, prefix=prefix),
        queue=RedisQueueProvider(url, prefix=prefix),
        lock=RedisLockProvider(url, prefix=prefix),
    )
    for workflow in WORKFLOWS:
        host.register_workflow(workflow())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves them: none is refused
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(host), log_level="warning"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
