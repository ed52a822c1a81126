"""MongoDB providers (``pip install liteflow-workflows[mongo]``): persistence on pymongo."""

from liteflow.providers.drivers import require

require("pymongo", "mongo")
require("bson", "mongo")

from .persistence import MongoPersistenceProvider  # noqa: E402

__all__ = ["MongoPersistenceProvider"]
