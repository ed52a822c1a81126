"""What the providers share about their drivers: importing an optional one, and naming a store.

``require`` turns a missing driver into an ``ImportError`` that names the extra to install::

    require("redis", "redis")   # ImportError: ... pip install 'liteflow-workflows[redis]'

``redact_url`` gives a URL fit for messages and logs: its password (in the user info or a
``password=`` query option) replaced by ``***``.
"""

from __future__ import annotations

import importlib
import re

_USERINFO_PASSWORD = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):[^@/?#]*@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|pass|pwd)=)[^&#]*", re.IGNORECASE)


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


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names, hosts and paths are kept)."""
    url = _USERINFO_PASSWORD.sub(r"\g<head>:***@", url)
    return _QUERY_PASSWORD.sub(r"\g<head>***", url)
