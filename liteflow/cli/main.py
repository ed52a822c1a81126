"""The ``liteflow`` command (also ``python -m liteflow``): global options, then a verb.

Exit codes: 0 done; 1 not found or not applicable (one line on stderr, no traceback); 2 usage error.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from liteflow.cli import actions, schedules, serve, views
from liteflow.cli.connect import Connection, Failure
from liteflow.cli.supervisor import Supervisor, child_command
from liteflow.cli.worker import check_store, configure_logging, metrics_module, run_worker
from liteflow.core.errors import LiteFlowError


class _Group(click.Group):
    """Turns the library's expected errors into one line and exit 1 (a usage error stays exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LiteFlowError as exc:
            raise Failure(str(exc)) from exc
        except ImportError as exc:  # a driver the URL needs is not installed: the message names the extra
            raise Failure(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--app", envvar="LITEFLOW_APP", metavar="MODULE:ATTR", help="A WorkflowHost to use (ATTR: host).")
@click.option("--persistence", envvar="LITEFLOW_PERSISTENCE", metavar="URL", help="redis://, mongodb://, sqlite:///")
@click.option("--queue", envvar="LITEFLOW_QUEUE", metavar="URL", help="Queue URL (default: as --persistence).")
@click.option("--lock", envvar="LITEFLOW_LOCK", metavar="URL", help="Lock URL (default: as --persistence).")
@click.option("--prefix", envvar="LITEFLOW_PREFIX", metavar="P", help="Key prefix of every Redis provider.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Library log level (worker: info; other verbs: error).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    app: str | None,
    persistence: str | None,
    queue: str | None,
    lock: str | None,
    prefix: str | None,
    log_level: str | None,
) -> None:
    """Run LiteFlow workers and inspect and control workflows.

    Say where to connect with --app MODULE:ATTR (your host, its providers and definitions) or
    --persistence URL (any verb but start and graph).
    """
    connection = Connection(app, persistence, queue, lock, prefix)
    ctx.obj = connection
    ctx.call_on_close(connection.close)
    if ctx.invoked_subcommand in ("worker", "dashboard"):
        configure_logging(log_level or "info")
    else:
        logging.getLogger("liteflow").setLevel((log_level or "error").upper())


@cli.command()
@click.argument("app", required=False, metavar="MODULE:ATTR")
@click.option("--concurrency", type=click.IntRange(min=1), help="Instances executed at once (worker threads).")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    help="Worker processes under one supervisor (default 1: this process is the worker; e.g. $(nproc)).",
)
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port (process i: P+i)."
)
@click.option("--progress-interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Seconds.")
@click.pass_context
def worker(
    ctx: click.Context,
    app: str | None,
    concurrency: int | None,
    processes: int | None,
    metrics_port: int | None,
    progress_interval: float,
) -> None:
    """Run a worker: start the host, log when ready, stop gracefully on SIGTERM or SIGINT (exit 0)."""
    connection: Connection = ctx.obj
    if app is not None:
        connection.app = app
    if connection.app is None:
        raise click.UsageError("worker needs MODULE:ATTR (or --app / LITEFLOW_APP): the host and its definitions")
    host = connection.host()
    # one process unless asked: a single worker keeps `--metrics-port P` one port and one ready line
    count = processes if processes is not None else 1
    if count == 1:
        run_worker(host, connection.describe(), concurrency, metrics_port, progress_interval)
        return
    check_store(host, f"{connection.describe()} ({type(host.persistence).__name__})")
    if metrics_port is not None:
        metrics_module()  # a usage error now rather than in every child
        if metrics_port + count - 1 > 65535:
            raise click.BadParameter(f"{count} processes need ports {metrics_port}..{metrics_port + count - 1}")
    parent = ctx.parent.params if ctx.parent is not None else {}
    global_args = [
        arg
        for name in ("queue", "lock", "prefix", "log_level")
        if parent.get(name) is not None
        for arg in (f"--{name.replace('_', '-')}", str(parent[name]))
    ]
    commands = []
    for i in range(count):
        args = [connection.app, "--progress-interval", str(progress_interval)]
        if concurrency is not None:
            args += ["--concurrency", str(concurrency)]
        if metrics_port is not None:
            args += ["--metrics-port", str(metrics_port + i)]
        commands.append(child_command(global_args, args))
    ctx.exit(Supervisor(commands).run())


for command in (*views.COMMANDS, *actions.COMMANDS, *schedules.COMMANDS, serve.dashboard):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="liteflow")


if __name__ == "__main__":  # pragma: no cover
    main()
