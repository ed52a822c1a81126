"""What the providers share about their drivers: importing an optional one.

``require`` turns a missing driver into an ``ImportError`` that names the extra to install::

    require("redis", "redis")   # ImportError: ... pip install 'liteflow-workflows[redis]'
"""

from __future__ import annotations

import importlib


def require(module: str, extra: str) -> None:
    """Import ``module`` or raise ImportError naming the ``extra`` that installs it."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this LiteFlow provider needs the {module!r} package, which is not installed: "
            f"pip install 'liteflow-workflows[{extra}]'",
            name=module,
        ) from exc
