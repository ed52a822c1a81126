"""The library's structlog loggers, routed through stdlib ``logging`` under the ``liteflow`` name.

Nothing prints by default (stdlib logging's last-resort handler shows warnings and errors only); users
set levels and handlers the way they already do, e.g. ``logging.getLogger("liteflow").setLevel("DEBUG")``.
The library never calls ``structlog.configure()``.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

_PROCESSORS: list[Any] = [
    structlog.stdlib.filter_by_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
    structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
]


def logger(name: str) -> Any:
    """A bound structlog logger writing to the stdlib logger ``liteflow.<name>``."""
    return structlog.wrap_logger(
        logging.getLogger(f"liteflow.{name}"),
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=_PROCESSORS,
    )
