"""``liteflow worker APP --processes N``: N worker processes under one supervisor (as Celery's prefork pool).

Each child is a fresh ``python -m liteflow worker APP --processes 1`` process (spawned, never forked
from a process with open connections), in a process group of its own, so a Ctrl-C at a terminal reaches
the children once, through the supervisor. The supervisor:

* restarts a child that ends while it runs, after a back-off (1 s, doubling while children keep dying
  young, at most 30 s), logging ``supervisor.child_exited`` and ``supervisor.child_started``;
* on SIGTERM or SIGINT sends that signal to every child, waits for all of them (each stops gracefully),
  and exits 0 if every child exited 0, else 1; a second signal is passed on too (the children give up
  waiting for in-flight steps);
* stops everything and exits 2 if a child reports a usage error (exit 2): restarting would not help.

Children's stdin is a pipe from the supervisor: if the supervisor dies, the pipe closes and each child
stops gracefully by itself. The main thread only waits on an event; one thread per child waits on it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from liteflow.core.log import logger

log = logger("supervisor")

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: A child that ran at least this long before it ended is restarted after the first back-off again.
HEALTHY_AFTER = 30.0
#: Env var that tells a child which slot it fills (0..N-1).
SLOT_ENV = "LITEFLOW_WORKER_SLOT"


def cpu_count() -> int:
    """The CPUs this process may run on (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class _Slot:
    index: int
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    """Runs ``commands[i]`` as child ``i``, restarted when it ends, until a signal stops them all."""

    def __init__(self, commands: list[list[str]], env: dict[str, str] | None = None) -> None:
        self.slots = [_Slot(i, command) for i, command in enumerate(commands)]
        self.env = dict(os.environ if env is None else env)
        self._changed = threading.Event()
        self._mutex = threading.Lock()
        self._ended: list[tuple[_Slot, subprocess.Popen[bytes]]] = []
        self._signals: list[int] = []

    # -- children --------------------------------------------------------------------------------------
    def _spawn(self, slot: _Slot) -> None:
        process = subprocess.Popen(
            slot.command,
            env={**self.env, SLOT_ENV: str(slot.index)},
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        slot.process, slot.started, slot.restart_at = process, time.monotonic(), None
        log.info("supervisor.child_started", slot=slot.index, pid=process.pid)
        waiter = threading.Thread(target=self._wait, args=(slot, process), name=f"liteflow-child-{slot.index}")
        waiter.daemon = True
        waiter.start()

    def _wait(self, slot: _Slot, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        with self._mutex:
            self._ended.append((slot, process))
        self._changed.set()

    def _on_ended(self, slot: _Slot, process: subprocess.Popen[bytes]) -> None:
        code = process.returncode
        slot.process = None
        slot.exit_codes.append(code)
        lived = time.monotonic() - slot.started
        if lived >= HEALTHY_AFTER:
            slot.backoff = FIRST_BACKOFF
        delay = slot.backoff
        slot.backoff = min(slot.backoff * 2, MAX_BACKOFF)
        slot.restart_at = time.monotonic() + delay
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        log.warning(
            "supervisor.child_exited",
            slot=slot.index,
            pid=process.pid,
            how=how,
            lived_s=round(lived, 1),
            restart_in_s=delay,
        )

    # -- signals ---------------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)
        self._changed.set()

    def _forward(self, signum: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                try:
                    slot.process.send_signal(signum)
                except ProcessLookupError:  # ended a moment ago
                    continue

    # -- the loop --------------------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until a signal; returns the exit code (0 when every child stopped cleanly)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._spawn(slot)
            log.info("supervisor.ready", processes=len(self.slots), pid=os.getpid())
            fatal = self._supervise()
            return self._stop_all(fatal)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _supervise(self) -> bool:
        """Restart children until a signal (False) or a child's usage error (True)."""
        while True:
            due = [s.restart_at for s in self.slots if s.restart_at is not None]
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            self._changed.wait(timeout)
            self._changed.clear()
            if self._signals:
                return False
            with self._mutex:
                ended, self._ended = self._ended, []
            for slot, process in ended:
                if process.returncode == 2:
                    log.error("supervisor.child_usage_error", slot=slot.index, pid=process.pid)
                    slot.process = None
                    return True
                self._on_ended(slot, process)
            now = time.monotonic()
            for slot in self.slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    self._spawn(slot)

    def _stop_all(self, fatal: bool) -> int:
        """Pass the signal to every running child and wait for them all (a later signal is passed on too)."""
        sent = self._signals[0] if self._signals else signal.SIGTERM
        log.info("supervisor.stopping", signal=signal.Signals(sent).name)
        self._forward(sent)
        forwarded = max(len(self._signals), 1)
        codes: list[int] = []
        while True:
            with self._mutex:
                ended, self._ended = self._ended, []
            for slot, process in ended:
                if slot.process is process:
                    slot.process = None
                    codes.append(process.returncode)
            if all(slot.process is None for slot in self.slots):
                break
            if len(self._signals) > forwarded:  # a second signal: the children stop waiting for their steps
                self._forward(self._signals[-1])
                forwarded = len(self._signals)
            self._changed.wait()
            self._changed.clear()
        log.info("supervisor.stopped", exit_codes=",".join(map(str, codes)))
        if fatal:
            return 2
        return 0 if all(code == 0 for code in codes) else 1


def child_command(global_args: list[str], worker_args: list[str]) -> list[str]:
    """``python -m liteflow [global options] worker [worker options] --processes 1``."""
    return [sys.executable, "-m", "liteflow", *global_args, "worker", *worker_args, "--processes", "1"]
