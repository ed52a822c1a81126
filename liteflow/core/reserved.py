"""Event names the library keeps for itself: every name starting with ``liteflow.``.

The engine announces a child workflow's end as ``liteflow.workflow-completed`` keyed by the child's id, and
templates record their running instances as ``liteflow.template-running`` subscriptions. Anyone who could
publish those names could forge a child's result or defeat an overrun policy, so ``publish_event`` refuses
them; the engine publishes its own through :meth:`WorkflowHost.publish_engine_event`.
"""

from __future__ import annotations

RESERVED_PREFIX = "liteflow."


def is_reserved(event_name: str) -> bool:
    return event_name.startswith(RESERVED_PREFIX)


def check_event_name(event_name: object) -> None:
    """Raise for a name users may not publish: not a string, or a reserved name."""
    if not isinstance(event_name, str):
        raise TypeError(f"an event name is a string, got {type(event_name).__name__}")
    if is_reserved(event_name):
        raise ValueError(
            f"event name {event_name!r} is reserved: names starting with {RESERVED_PREFIX!r} are the library's own"
        )
