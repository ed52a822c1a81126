"""Where the command line connects: a user's host (``--app MODULE:ATTR``) or providers named by URL.

``--app`` imports ``MODULE`` (the current directory first on ``sys.path``, as ``python -m`` would) and
takes ``ATTR`` (default ``host``): a :class:`WorkflowHost`, or a function of no arguments returning one.
Its providers and registered definitions are used. ``--persistence URL`` (with ``--queue``, ``--lock``,
``--prefix``) makes a client host with no definitions: enough to list, show, control and purge instances.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import click

from liteflow.core.services.host import WorkflowHost
from liteflow.core.services.urls import redact


class Failure(click.ClickException):
    """An expected failure (not found, not applicable, store unreachable): one line on stderr, exit 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"liteflow: {self.format_message()}", err=True)


def load_app(spec: str) -> WorkflowHost:
    """The host ``MODULE:ATTR`` names (ATTR defaults to ``host``); a usage error if there is none."""
    module_name, _, attr = spec.partition(":")
    attr = attr or "host"
    if not module_name:
        raise click.BadParameter(f"{spec!r}: expected MODULE:ATTR, e.g. myapp.workers:host", param_hint="--app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise click.BadParameter(f"no module named {module_name!r}", param_hint="--app") from exc
        raise
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise click.BadParameter(f"module {module_name!r} has no attribute {attr!r}", param_hint="--app") from None
    if not isinstance(value, WorkflowHost) and callable(value):
        value = value()
    if not isinstance(value, WorkflowHost):
        raise click.BadParameter(
            f"{module_name}:{attr} is a {type(value).__name__}, not a WorkflowHost", param_hint="--app"
        )
    return value


@dataclass
class Connection:
    """What the global options say; makes the host on first use (so ``--help`` connects to nothing)."""

    app: str | None = None
    persistence: str | None = None
    queue: str | None = None
    lock: str | None = None
    prefix: str | None = None
    _host: WorkflowHost | None = field(default=None, repr=False)
    _owned: bool = field(default=False, repr=False)

    @property
    def has_app(self) -> bool:
        return self.app is not None

    def host(self, needs_app: str | None = None) -> WorkflowHost:
        """The host; ``needs_app`` names a verb that cannot work without the app's definitions."""
        if self._host is not None:
            return self._host
        if self.app is not None and self.persistence is not None:
            raise click.UsageError("give --app or --persistence, not both (the app's host has its own providers)")
        if self.app is not None:
            self._host = load_app(self.app)
            return self._host
        if needs_app is not None:
            raise click.UsageError(f"{needs_app} needs --app MODULE:ATTR (env LITEFLOW_APP): the definitions")
        if self.persistence is None:
            raise click.UsageError(
                "say where to connect: --app MODULE:ATTR or --persistence URL (env LITEFLOW_APP, LITEFLOW_PERSISTENCE)"
            )
        from liteflow.core.services.configure import configure_workflow_host

        try:
            with warnings.catch_warnings():  # "MongoDB: memory queue and lock" concerns workers, not a client
                warnings.simplefilter("ignore", UserWarning)
                self._host = configure_workflow_host(
                    persistence=self.persistence, queue=self.queue, lock=self.lock, prefix=self.prefix
                )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        self._owned = True
        return self._host

    def describe(self) -> str:
        """Where this connects, without passwords (for log lines and errors)."""
        if self.app is not None:
            return self.app
        return redact(self.persistence or "memory://")

    def close(self) -> None:
        """Close the providers this made from URLs (an app's host belongs to the app)."""
        host, self._host = self._host, None
        if host is None or not self._owned:
            return
        for provider in (host.persistence, host.queue, host.lock):
            try:
                provider.close()
            except Exception:  # closing is best effort: the process is about to exit
                continue
