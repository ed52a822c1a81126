"""Durable on one machine with nothing to install: a workflow survives the death of its process.

The first worker process starts an order workflow on a SQLite file and is killed (SIGKILL) in the
middle of its second step; a second process opens the same file, takes the workflow over once the dead
process's lock lapses (a 2 s lease here), runs the interrupted step again and finishes it.

python samples/10_sqlite.py                      # a file in a temporary directory, removed afterwards
python samples/10_sqlite.py /path/to/orders.db   # or a file of your own (kept)
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from liteflow.core import *
from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

_say = threading.Lock()


def say(text: str) -> None:
    """One whole line at a time: the host's worker threads and the main thread both print."""
    with _say:
        print(text, flush=True)


class Reserve(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        say(f"  Reserve ran in process {os.getpid()}")


class Charge(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        say(f"  Charge started in process {os.getpid()}")
        if os.environ.get("SAMPLE_SLOW_CHARGE"):
            time.sleep(60)  # the first process is killed in here
        say(f"  Charge ran in process {os.getpid()}")


class Ship(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        say(f"  Ship ran in process {os.getpid()}")


class Order(Workflow):
    def build(self, builder: WorkflowBuilder):
        builder.start_with(Reserve).then(Charge).then(Ship)


def sqlite_host(path: str) -> WorkflowHost:
    host = configure_workflow_host(
        persistence=SqlitePersistenceProvider(path),
        queue=SqliteQueueProvider(path),
        lock=SqliteLockProvider(path, lease=2.0),
        poll_interval=0.5,
    )
    host.register_workflow(Order())
    return host


def first(path: str) -> None:
    """Start the workflow and run it until killed."""
    host = sqlite_host(path)
    host.start()
    say(f"started {host.start_workflow('Order', 1, {'order': 42})}")
    time.sleep(60)


def second(path: str, workflow_id: str) -> None:
    """A new process on the same file: it finishes what the first one left."""
    host = sqlite_host(path)
    host.start()
    try:
        instance = host.wait_for_workflow(workflow_id, timeout=30)
        say(f"workflow finished: {instance.status.value}, data {instance.data}")
    finally:
        host.stop()


def main() -> None:
    given = sys.argv[1] if len(sys.argv) > 1 else None
    directory = None if given else tempfile.mkdtemp(prefix="liteflow-sample-")
    path = given or os.path.join(directory, "orders.db")
    me = os.path.abspath(__file__)
    try:
        say(f"first process on {os.path.basename(path)}:")
        env = dict(os.environ, SAMPLE_SLOW_CHARGE="1")
        proc = subprocess.Popen([sys.executable, me, "--first", path], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        # The host runs Reserve at once, so its line may come before or after the id's line.
        workflow_id = ""
        charging = False
        for line in proc.stdout:
            if line.startswith("started "):
                workflow_id = line.split()[1]
                say(f"  workflow {workflow_id}")
            else:
                say(line.rstrip())
            charging = charging or "Charge started" in line
            if charging and workflow_id:
                break
        if not workflow_id:
            raise SystemExit("the first process exited without starting the workflow")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        say(f"first process killed (SIGKILL) in the middle of Charge; workflow {workflow_id[:8]} is on disk")
        say("second process, same file:")
        subprocess.run([sys.executable, me, "--second", path, workflow_id], check=True, timeout=60)
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--first":
        first(sys.argv[2])
    elif len(sys.argv) > 3 and sys.argv[1] == "--second":
        second(sys.argv[2], sys.argv[3])
    else:
        main()
