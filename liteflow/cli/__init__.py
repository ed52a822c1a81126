"""The ``liteflow`` command line (``pip install 'liteflow-workflows[cli]'``): see :mod:`liteflow.cli.main`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """The console script: says which extra to install when click or rich is missing."""
    try:
        from liteflow.cli.main import main as run
    except ModuleNotFoundError as exc:
        if exc.name not in ("click", "rich"):
            raise
        sys.stderr.write(f"liteflow: the command needs {exc.name}: pip install 'liteflow-workflows[cli]'\n")
        raise SystemExit(2) from None
    run(argv)
