"""The ``liteflow`` command line."""
