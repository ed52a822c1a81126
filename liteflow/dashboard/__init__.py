"""The web dashboard: ``create_app(host)`` returns an ASGI app (Starlette) to serve or mount.

``liteflow dashboard`` serves it with uvicorn; ``serve(host, ...)`` does the same from Python. Needs
the ``dashboard`` extra (``pip install 'liteflow-workflows[dashboard]'``).
"""

from __future__ import annotations

from typing import Any

try:
    import jinja2  # noqa: F401
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("liteflow.dashboard needs its extra: pip install 'liteflow-workflows[dashboard]'") from exc

from .app import create_app

__all__ = ["create_app", "serve"]


def serve(
    host: Any, bind: str = "127.0.0.1", port: int = 8080, token: str | None = None, allow_actions: bool = False
) -> None:
    """Serve the dashboard for ``host`` until interrupted (uvicorn)."""
    import uvicorn

    uvicorn.run(create_app(host, token=token, allow_actions=allow_actions), host=bind, port=port, log_level="warning")
