"""``liteflow dashboard``: serve the web dashboard for the connection's store until SIGTERM or SIGINT (exit 0)."""

from __future__ import annotations

import signal
from types import FrameType

import click

from liteflow.cli.connect import Connection
from liteflow.core.log import logger

log = logger("dashboard")


@click.command()
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option(
    "--token",
    envvar="LITEFLOW_DASHBOARD_TOKEN",
    metavar="T",
    help="Every request needs 'Authorization: Bearer T' (or the login form's cookie). Env LITEFLOW_DASHBOARD_TOKEN.",
)
@click.option("--allow-actions", is_flag=True, help="Allow suspend/resume/terminate/publish without a token.")
@click.pass_obj
def dashboard(connection: Connection, bind: str, port: int, token: str | None, allow_actions: bool) -> None:
    """Serve the web dashboard (pages and the JSON API) over the store the global options name."""
    from liteflow import dashboard as web  # ImportError names the extra: one line, exit 1

    host = connection.host()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # uvicorn stops on the signal and then raises it again once its own handlers are gone:
        # it lands here, so the process ends with exit 0 instead of dying by the signal
        received.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("dashboard.serving", url=f"http://{bind}:{port}/", protected=token is not None, actions=allow_actions)
        web.serve(host, bind=bind, port=port, token=token or None, allow_actions=allow_actions)
        log.info("dashboard.stopped", signal=received[0] if received else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
