"""Engine-wide defaults the host passes to the executor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from liteflow.core.definition import ErrorBehavior


@dataclass(frozen=True)
class EngineSettings:
    retry_interval: timedelta = timedelta(seconds=60)
    default_error_behavior: ErrorBehavior = ErrorBehavior.RETRY
