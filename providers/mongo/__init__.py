"""MongoDB providers (``pip install liteflow-workflows[mongo]``): persistence on pymongo."""

from .persistence import MongoPersistenceProvider

__all__ = ["MongoPersistenceProvider"]
