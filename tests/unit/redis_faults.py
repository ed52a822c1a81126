"""Redis replies lost on the way back: the server ran a command, the client never heard of it.

``lose_replies(monkeypatch, marker)`` returns ``lose(n)``: the replies to the next ``n`` commands whose
packed form contains ``marker`` (b"lock:", b"wf:") are read and then dropped with a ConnectionError.
Other commands (a new connection's handshake, the test's own reads) are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.connection import Connection


def lose_replies(monkeypatch: pytest.MonkeyPatch, marker: bytes) -> Callable[[int], None]:
    send, read = Connection.send_packed_command, Connection.read_response
    left = [0]
    sent: dict[int, bool] = {}

    def recording(self: Connection, command: object, *args: object, **kwargs: object) -> None:
        parts = command if isinstance(command, (list, tuple)) else [command]
        send(self, command, *args, **kwargs)  # type: ignore[arg-type]
        # after sending: a new connection sends its handshake from within this call
        sent[id(self)] = any(marker in bytes(part) for part in parts)  # type: ignore[call-overload]

    def lossy(self: Connection, *args: object, **kwargs: object) -> object:
        reply = read(self, *args, **kwargs)  # type: ignore[arg-type]
        if left[0] > 0 and sent.pop(id(self), False):
            left[0] -= 1
            raise redis.ConnectionError("Connection reset by peer (after the server ran the command)")
        return reply

    monkeypatch.setattr(Connection, "send_packed_command", recording)
    monkeypatch.setattr(Connection, "read_response", lossy)
    return lambda n: left.__setitem__(0, n)
