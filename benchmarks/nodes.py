"""A second host process on Redis: ``python -m benchmarks.nodes --redis-url URL --prefix PREFIX``.

The node registers the benchmark workflows, starts a host on the Redis providers under ``PREFIX`` and
runs until its stdin closes (or reads ``stop``). It reports on stdout:

* ``ready <perf_counter>`` once its host is started (the parent checks that the clocks agree: on Linux
  ``perf_counter`` is CLOCK_MONOTONIC, shared by every process on the machine); with ``--paused``, once
  its host is ready to start: it starts it when it reads ``go``;
* ``C <reference> <perf_counter>`` for every workflow that completed on this node, stamped when its
  ``WorkflowCompleted`` lifecycle event fired (lines are flushed in batches every few milliseconds;
  the stamps, not the flushes, are what gets measured);
* ``bye`` once its host has stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLUSH_EVERY = 0.005


class NodeProcess:
    """The parent's handle on a node: start it, relay its completions, stop it."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        on_complete: Callable[[str, float], None],
        start_timeout: float = 30.0,
        paused: bool = False,
    ) -> None:
        self.on_complete = on_complete
        self._ready = threading.Event()
        self._gone = threading.Event()
        self.remote_clock: float | None = None
        self.completed = 0
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        before = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.nodes", "--redis-url", redis_url, "--prefix", prefix]
            + (["--paused"] if paused else []),
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name="bench-node-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(start_timeout) or self.remote_clock is None:
            self.stop()
            raise RuntimeError(f"the second host process did not start within {start_timeout:.0f}s")
        after = time.perf_counter()
        if not before <= self.remote_clock <= after:
            self.stop()
            raise RuntimeError("perf_counter differs between processes: cannot compare completion times")

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            for line in stdout:
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == "C" and len(parts) == 3:
                    self.completed += 1
                    self.on_complete(parts[1], float(parts[2]))
                elif parts[0] == "ready" and len(parts) == 2:
                    self.remote_clock = float(parts[1])
                    self._ready.set()
        finally:
            self._gone.set()
            self._ready.set()

    def go(self) -> None:
        """Start a paused node's host."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self, timeout: float = 30.0) -> None:
        """Close its stdin (it stops its host and exits); kill it if it takes longer than ``timeout``."""
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._gone.wait(5)


# -- the node itself ----------------------------------------------------------------------------------
class _Reporter:
    """Collects completion stamps from worker threads; one thread writes them out in batches."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.pending: list[tuple[str, float]] = []
        self.mutex = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-node-reporter", daemon=True)

    def on_event(self, event: Any) -> None:
        from liteflow.core import WorkflowCompleted

        if isinstance(event, WorkflowCompleted):
            stamp = time.perf_counter()
            with self.mutex:
                self.pending.append((str(event.reference), stamp))

    def flush(self) -> None:
        with self.mutex:
            batch, self.pending = self.pending, []
        if batch:
            self.out.write("".join(f"C {ref} {stamp!r}\n" for ref, stamp in batch))
            self.out.flush()

    def _run(self) -> None:
        while not self.stopped.wait(FLUSH_EVERY):
            self.flush()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--paused", action="store_true", help="start the host only when stdin says go")
    args = parser.parse_args(argv)

    from benchmarks.harness import redis_host
    from benchmarks.workflows import register_all

    host = redis_host(args.redis_url, args.prefix)
    register_all(host)
    reporter = _Reporter(sys.stdout)
    from liteflow.core import WorkflowCompleted

    host.on_lifecycle_event(reporter.on_event, WorkflowCompleted)
    reporter.thread.start()
    if not args.paused:
        host.start()
    sys.stdout.write(f"ready {time.perf_counter()!r}\n")
    sys.stdout.flush()
    try:
        for line in sys.stdin:
            if line.strip() == "go":
                host.start()
            elif line.strip() == "stop":
                break
    except KeyboardInterrupt:
        pass
    finally:
        host.close()
        reporter.stop()
        close_providers(host)
        sys.stdout.write("bye\n")
        sys.stdout.flush()


def close_providers(host: Any) -> None:
    for provider in (host.persistence, host.queue, host.lock):
        close = getattr(provider, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # closing is best effort
                sys.stderr.write(f"closing {type(provider).__name__} failed: {exc}\n")


if __name__ == "__main__":
    main()
