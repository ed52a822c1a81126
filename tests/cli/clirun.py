"""Running the ``liteflow`` command as a user does, for the tests: processes, their stderr lines, waiting."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from waiting import wait_until

HERE = Path(__file__).parent
LITEFLOW = Path(sys.executable).parent / "liteflow"


class Worker:
    """A ``liteflow worker`` process; its stderr is collected by a thread (so it never blocks)."""

    def __init__(self, env: dict[str, str], *args: str, command: list[str] | None = None) -> None:
        self.process = subprocess.Popen(
            command or [str(LITEFLOW), "worker", "cli_app:host", "--progress-interval", "0.5", *args],
            cwd=HERE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if text in line]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no {text!r} from the worker; it said: {self.lines}")
                self._changed.wait(remaining)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def liteflow(env: dict[str, str], *args: str, app: bool = True) -> subprocess.CompletedProcess[str]:
    command = [str(LITEFLOW), *(["--app", "cli_app:host"] if app else []), *args]
    return subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one stderr line of an expected failure (no traceback)."""
    assert result.returncode == code, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    """:func:`waiting.wait_until` at the pace of processes: a minute, a look every 100 ms (a look may run
    ``liteflow show``)."""
    return wait_until(check, timeout, interval=0.1)


def show(env: dict[str, str], workflow_id: str) -> dict[str, Any]:
    return json.loads(ok(liteflow(env, "show", workflow_id, "--json")))


def ran(env: dict[str, str]) -> list[str]:
    import redis

    client = redis.Redis.from_url(env["LITEFLOW_TEST_URL"])
    try:
        return [item.decode() for item in client.lrange(env["LITEFLOW_TEST_PREFIX"] + "ran", 0, -1)]
    finally:
        client.close()
