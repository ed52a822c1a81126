"""LiteFlow: persistent, step-based workflows. The public API lives in :mod:`liteflow.core`."""

__version__ = "0.1.0"
