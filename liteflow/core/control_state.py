"""Status changes waiting for an instance's lock holder: what a provider loads with the instance.

A suspend, resume or terminate asked for while a host holds the instance's lock is stored beside the
instance as *pending control requests* (one opaque string, set by compare-and-set: ``request_control``).
They are kept out of the instance's document, so a pass's write never touches them, and every
``persist_workflow`` refuses (:class:`~liteflow.core.errors.ControlRequested`, nothing stored) while
some are pending, unless it names them as applied: the lock holder then stores the pass and the status
changes together, and they are cleared in that same write (see ``liteflow.core.services.control``).

A provider marks every instance it loads with the requests pending on it (or with none), in the
instance's private bookkeeping, never stored with the instance itself.
"""

from __future__ import annotations

from liteflow.core.models import WorkflowInstance, engine_state

_KEY = "_control_request"


def pending_control(instance: WorkflowInstance) -> str | None:
    """The control requests pending on ``instance`` when it was loaded (None if none)."""
    request: str | None = engine_state(instance).get(_KEY)
    return request


def mark_control(instance: WorkflowInstance, request: str | bytes | None) -> None:
    """Record, on a loaded instance, the control requests stored with it (None: none)."""
    if isinstance(request, bytes):
        request = request.decode()
    if request is None:
        if instance.__pydantic_private__ and _KEY in instance.__pydantic_private__:
            del instance.__pydantic_private__[_KEY]
        return
    engine_state(instance)[_KEY] = request
