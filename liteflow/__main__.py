"""``python -m liteflow``: the ``liteflow`` command."""

from liteflow.cli.main import main

main()
