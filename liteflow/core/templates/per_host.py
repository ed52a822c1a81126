"""One object per host, made on first use and dropped with the host (the templates' state lives beside
the host, never in it)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class PerHost(Generic[_T]):
    """``of(host)``: the object ``make(host)`` made for ``host`` (made once, under a lock)."""

    def __init__(self, make: Callable[[Any], _T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[Any, _T] = weakref.WeakKeyDictionary()
        self._mutex = threading.Lock()

    def of(self, host: Any) -> _T:
        with self._mutex:
            made = self._made.get(host)
            if made is None:
                made = self._made[host] = self._make(host)
            return made
