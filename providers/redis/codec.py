"""Documents and scores: how the Redis providers write models as JSON and times as sorted-set scores.

Documents are compact JSON (never pickle), read back with ``json.loads`` and pydantic. Scores are
integers: epoch microseconds for event, subscription and purge indexes (exact in a double up to the
year 2255, so ``<=`` filters agree with the datetimes they come from), and the instance's own
``next_execution`` (epoch milliseconds) for the runnable index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic_core

from liteflow.core.errors import SerializationError
from liteflow.core.models import as_utc, to_micros, to_millis


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON of a JSON-shaped document (as ``serialization.dump_*`` make them).

    Encoded by pydantic's Rust encoder (``pydantic_core.to_json``, already a dependency): about twice as
    fast as ``json.dumps`` with a ``default`` hook here, and it writes the datetimes and enums those
    documents hold as ISO 8601 strings and values. Anything else is a SerializationError.
    """
    try:
        return pydantic_core.to_json(document)
    except pydantic_core.PydanticSerializationError as exc:
        raise SerializationError(f"document cannot be stored as JSON: {exc}") from exc


def micros(value: datetime) -> int:
    """Epoch microseconds, exactly (a naive datetime is taken as UTC)."""
    return to_micros(value)


def millis(value: datetime) -> int:
    """Epoch milliseconds exactly as the host computes ``next_execution`` (naive taken as UTC)."""
    utc = as_utc(value)
    assert utc is not None
    return to_millis(utc)
