"""``python -m liteflow``: the ``liteflow`` command."""

from liteflow.cli import main

main()
